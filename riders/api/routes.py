from riders.api.views import AuthViewSet, RiderViewSet


def register_routes(router) -> None:
    router.register("auth", AuthViewSet, basename="auth")
    router.register("riders", RiderViewSet, basename="riders")
