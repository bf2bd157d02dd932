import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from config.api.moments import as_utc
from telemetry.models import ConnectionLog, EventType


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, handed to the query in UTC (see config.api.moments)."""

    default_error_messages = {
        "out_of_range": "Give a date-time between the years 1 and 9999.",
    }

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        in_utc = as_utc(moment)
        if in_utc is None:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")
        return in_utc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ConnectionLogFilter(django_filters.FilterSet):
    event_type = django_filters.ChoiceFilter(choices=EventType.choices)
    room = django_filters.CharFilter(method="filter_room", max_length=6, help_text="Room code.")
    since = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    def filter_room(self, queryset, name, value):
        return queryset.filter(room__code=value.strip().upper())

    class Meta:
        model = ConnectionLog
        fields = ["event_type", "room", "since", "until"]
