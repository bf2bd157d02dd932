from rooms.api.views import RoomViewSet
from rooms.api.webhooks import WebhookEndpointViewSet


def register_routes(router) -> None:
    router.register("rooms", RoomViewSet, basename="rooms")
    router.register("webhooks", WebhookEndpointViewSet, basename="webhooks")
