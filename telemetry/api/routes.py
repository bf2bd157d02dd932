from telemetry.api.views import TelemetryViewSet


def register_routes(router) -> None:
    router.register("telemetry", TelemetryViewSet, basename="telemetry")
