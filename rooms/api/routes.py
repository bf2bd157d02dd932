from rooms.api.alerts import RideAlertViewSet
from rooms.api.views import RoomViewSet
from rooms.api.webhooks import WebhookEndpointViewSet


def register_routes(router) -> None:
    router.register("rooms", RoomViewSet, basename="rooms")
    router.register("rooms", RideAlertViewSet, basename="ride-alerts")
    router.register("webhooks", WebhookEndpointViewSet, basename="webhooks")
