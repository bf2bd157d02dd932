from django.urls import path

from sessions_rt.api.views import AsyncApiView, LivePresenceViewSet


def register_routes(router) -> None:
    # GET rooms/{code}/presence/: beside the rooms' own routes, served from the live state.
    router.register("rooms", LivePresenceViewSet, basename="rooms-live")


def document_urls() -> list:
    """The ride socket's AsyncAPI document, served next to the OpenAPI schema."""
    return [path("asyncapi/", AsyncApiView.as_view(), name="asyncapi")]
