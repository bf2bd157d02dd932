"""Version 1 of the rider app's API. Each app registers its own routes."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from riders.api.routes import register_routes as register_rider_routes
from rooms.api.routes import register_routes as register_room_routes
from sessions_rt.api.routes import register_routes as register_live_routes
from telemetry.api.routes import register_routes as register_telemetry_routes

router = DefaultRouter()
for register in (
    register_rider_routes,
    register_room_routes,
    register_live_routes,
    register_telemetry_routes,
):
    register(router)


def not_found(request, rest=""):
    # Django's 404 page is HTML; the API answers in its one JSON error shape everywhere.
    return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)


urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # Last: any other path under /api/.
    re_path(r"^(?P<rest>.*)$", not_found, name="api-not-found"),
]
