from riders.api.emergency_contacts import EmergencyContactViewSet
from riders.api.views import AuthViewSet, DeviceViewSet, RiderViewSet


def register_routes(router) -> None:
    router.register("auth", AuthViewSet, basename="auth")
    router.register("riders/me/devices", DeviceViewSet, basename="devices")
    router.register(
        "riders/me/emergency-contacts", EmergencyContactViewSet, basename="emergency-contacts"
    )
    router.register("riders", RiderViewSet, basename="riders")
