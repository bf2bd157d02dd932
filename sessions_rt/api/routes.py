from sessions_rt.api.views import LivePresenceViewSet


def register_routes(router) -> None:
    # GET rooms/{code}/presence/: beside the rooms' own routes, served from the live state.
    router.register("rooms", LivePresenceViewSet, basename="rooms-live")
