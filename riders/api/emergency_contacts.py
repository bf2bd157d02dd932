"""The rider's own emergency contacts: riders/me/emergency-contacts/."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from config.api.views import ConvoyViewSet, error_responses, validated, without_body
from riders.api.serializers import (
    EmergencyContactCreateSerializer,
    EmergencyContactSerializer,
    EmergencyContactUpdateSerializer,
)
from riders.emergency_contacts import (
    emergency_contact_create,
    emergency_contact_delete,
    emergency_contact_update,
)
from riders.models import EmergencyContact
from riders.selectors import emergency_contact_get, rider_emergency_contacts

CONTACT_ID = OpenApiParameter(
    "contact_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The contact's id, from the rider's list of emergency contacts.",
)


class EmergencyContactViewSet(ConvoyViewSet):
    """Whom Convoy marks an SOS or a silent-rider alert for when nobody in the ride answers
    it (at most 5, each with the rider's word that they agreed)."""

    lookup_url_kwarg = "contact_id"
    lookup_value_regex = "[^/]+"
    queryset = EmergencyContact.objects.none()  # tells the schema generator the model

    @extend_schema(
        responses={200: EmergencyContactSerializer(many=True), **error_responses(400, 401)}
    )
    def list(self, request):
        page = self.paginate_queryset(rider_emergency_contacts(rider=request.user))
        return self.get_paginated_response(EmergencyContactSerializer(page, many=True).data)

    @extend_schema(
        request=EmergencyContactCreateSerializer,
        responses={201: EmergencyContactSerializer, **error_responses(400, 401, 409, 422)},
        description="Add a contact. 409 emergency_contacts_full past 5; 422 for a phone "
        "number no country's plan has, a malformed email, neither of them, or no consent.",
    )
    def create(self, request):
        data = validated(EmergencyContactCreateSerializer, request)
        contact = emergency_contact_create(rider=request.user, **data)
        return Response(EmergencyContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[CONTACT_ID],
        responses={200: EmergencyContactSerializer, **error_responses(400, 401, 404)},
    )
    def retrieve(self, request, contact_id=None):
        contact = emergency_contact_get(rider=request.user, contact_id=contact_id)
        return Response(EmergencyContactSerializer(contact).data)

    @extend_schema(
        parameters=[CONTACT_ID],
        request=EmergencyContactUpdateSerializer,
        responses={200: EmergencyContactSerializer, **error_responses(400, 401, 404, 422)},
        description="Change a contact. A new phone or email needs consent: true again.",
    )
    def partial_update(self, request, contact_id=None):
        changes = validated(EmergencyContactUpdateSerializer, request)
        contact = emergency_contact_update(
            rider=request.user, contact_id=contact_id, changes=changes
        )
        return Response(EmergencyContactSerializer(contact).data)

    @without_body(parameters=[CONTACT_ID], responses={204: None, **error_responses(400, 401, 404)})
    def destroy(self, request, contact_id=None):
        emergency_contact_delete(rider=request.user, contact_id=contact_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
