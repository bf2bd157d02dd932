"""Version 1 of the rider app's API. Each app registers its own routes."""

from django.urls import include, path
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

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
