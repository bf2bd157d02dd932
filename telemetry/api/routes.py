from telemetry.api.views import AccountDataViewSet, TelemetryViewSet


def register_routes(router) -> None:
    # Beside the account's own routes (riders/me/...), which riders.api registers.
    router.register("riders/me", AccountDataViewSet, basename="account-data")
    router.register("telemetry", TelemetryViewSet, basename="telemetry")
