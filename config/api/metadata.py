from django.urls import reverse
from rest_framework.metadata import SimpleMetadata


class SchemaPointerMetadata(SimpleMetadata):
    """OPTIONS answers what a view renders and parses; request bodies live in the schema.

    DRF's default would describe ``get_serializer()``: an error on views without one, and on
    the others the output serializer rather than the body a POST accepts.
    """

    def determine_metadata(self, request, view):
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
            "schema": reverse("schema"),
        }
