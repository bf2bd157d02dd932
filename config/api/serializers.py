import copy

from rest_framework import serializers

# The JSON type each kind of input field takes. DRF coerces: a CharField takes 1e309 as
# "inf" and 5 as "5", an IntegerField takes "5" and 5.0. A phone sending the wrong type has a
# bug worth hearing about, so the value must already be of the field's JSON type. Subclasses
# (EmailField of CharField) inherit their parent's entry; the first match wins.
_JSON_TYPES: tuple[tuple[type[serializers.Field], tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "a JSON boolean"),
    (serializers.IntegerField, (int,), "a JSON integer"),
    (serializers.FloatField, (int, float), "a JSON number"),
    (serializers.CharField, (str,), "a JSON string"),
    (serializers.UUIDField, (str,), "a JSON string"),
    (serializers.DateTimeField, (str,), "a JSON string"),
    (serializers.ListField, (list,), "a JSON array"),
    (serializers.DictField, (dict,), "a JSON object"),
)


def _json_type_error(field: serializers.Field, value) -> str | None:
    """Why ``value`` is not of ``field``'s JSON type, or None when it is (or is null)."""
    if value is None:
        return None  # the field's own allow_null decides
    for kind, accepted, name in _JSON_TYPES:
        if isinstance(field, kind):
            # bool is an int in Python, never a number in JSON.
            if isinstance(value, bool) and bool not in accepted:
                return f"Must be {name}."
            return None if isinstance(value, accepted) else f"Must be {name}."
    return None


class StrictSerializer(serializers.Serializer):
    """A JSON body's serializer: unknown fields are refused, so a typo in a client is an
    error, not a no-op; and each value must be of its field's JSON type (a string where a
    string belongs), not something DRF would coerce into one."""

    #: Query parameters arrive as text: their serializers check names, not JSON types.
    checks_json_types = True

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown[:20]}
                )
            if self.checks_json_types:
                wrong = {
                    name: [problem]
                    for name, field in self.fields.items()
                    if name in data
                    and not field.read_only
                    and (problem := _json_type_error(field, data[name]))
                }
                if wrong:
                    raise serializers.ValidationError(self._with_other_problems(data, wrong))
        return super().to_internal_value(data)

    def _with_other_problems(self, data: dict, wrong: dict) -> dict:
        """Every bad field at once, as DRF reports them: the rest of the body is validated
        too, without the values of the wrong type (which keep their own message)."""
        rest = {name: value for name, value in data.items() if name not in wrong}
        try:
            super().to_internal_value(rest)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                return {**exc.detail, **wrong}
        return wrong


class QueryParametersSerializer(StrictSerializer):
    """Query parameters: unknown names refused, values parsed from their text."""

    checks_json_types = False


class NoBodySerializer(StrictSerializer):
    """The body of an operation that takes none: nothing, or {}."""


class ReadModelSerializer(serializers.ModelSerializer):
    """An output ModelSerializer that reads its model's metadata once per class.

    DRF builds a ModelSerializer's fields from the model's metadata for every instance it
    makes, about 0.35 ms each; the answer to a join makes four. These serializers' fields
    depend on neither the instance nor the request, so the fields built the first time are
    kept for the class and each instance gets fresh copies (a field is bound to one
    serializer and cannot be shared).
    """

    def get_fields(self):
        template = _FIELDS_OF_CLASS.get(type(self))
        if template is None:
            template = _FIELDS_OF_CLASS[type(self)] = super().get_fields()
        return copy.deepcopy(template)


# The fields each ReadModelSerializer subclass built for its first instance.
_FIELDS_OF_CLASS: dict[type[ReadModelSerializer], dict] = {}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False)  # type: ignore[assignment]  # a declared field, not .fields


class ErrorSerializer(serializers.Serializer):
    """The one error shape, for the OpenAPI schema."""

    error = ErrorDetailSerializer()
