"""What the OpenAPI schema says of every operation, generated from what the server enforces.

Two things hold for every request and are stated here once rather than on each view:
- a JSON body's serializer (StrictSerializer) refuses fields it does not know, so its
  schema closes the object (``additionalProperties: false``);
- a query parameter is given once and never empty (ConvoyViewSet refuses both), so every
  string parameter has ``minLength: 1``;
- every operation may be answered 413 (the body limit is applied to every request, before
  the body is read), 429 (every operation is rate limited, per rider or per address) and
  503 (PostgreSQL or Redis unavailable: every operation reads the token or the account; or
  the request waited past HTTP_QUEUE_TIMEOUT_SECONDS for a thread and was not run).
"""

from drf_spectacular.extensions import OpenApiSerializerExtension

from config.api.views import ERROR_DESCRIPTIONS

# Statuses any operation can answer, whatever its view declares.
EVERY_OPERATION_STATUSES = (413, 429, 503)
ERROR_COMPONENT = {"$ref": "#/components/schemas/Error"}


class StrictSerializerExtension(OpenApiSerializerExtension):
    target_class = "config.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        if "__doc__" not in type(self.target).__dict__ or not type(self.target).__doc__:
            # The base class's own docstring is about the server, not this body.
            schema.pop("description", None)
        return schema


def add_rules_of_every_operation(result, generator, request, public):
    """Postprocessing hook: declare the statuses every operation may answer, and that no
    query parameter may be empty."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                if parameter["in"] == "query" and schema.get("type") == "string":
                    schema.setdefault("minLength", 1)
            responses = operation.setdefault("responses", {})
            for status in EVERY_OPERATION_STATUSES:
                responses.setdefault(
                    str(status),
                    {
                        "content": {"application/json": {"schema": ERROR_COMPONENT}},
                        "description": ERROR_DESCRIPTIONS[status],
                    },
                )
    return result
