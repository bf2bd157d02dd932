from riders.api.views import AuthViewSet, DeviceViewSet, RiderViewSet


def register_routes(router) -> None:
    router.register("auth", AuthViewSet, basename="auth")
    router.register("riders/me/devices", DeviceViewSet, basename="devices")
    router.register("riders", RiderViewSet, basename="riders")
