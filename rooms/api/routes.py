from rooms.api.alerts import RideAlertViewSet
from rooms.api.views import RoomViewSet


def register_routes(router) -> None:
    router.register("rooms", RoomViewSet, basename="rooms")
    router.register("rooms", RideAlertViewSet, basename="ride-alerts")
