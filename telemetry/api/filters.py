import django_filters

from telemetry.models import ConnectionLog, EventType


class ConnectionLogFilter(django_filters.FilterSet):
    event_type = django_filters.ChoiceFilter(choices=EventType.choices)
    room = django_filters.CharFilter(method="filter_room", max_length=6, help_text="Room code.")
    since = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    def filter_room(self, queryset, name, value):
        return queryset.filter(room__code=value.strip().upper())

    class Meta:
        model = ConnectionLog
        fields = ["event_type", "room", "since", "until"]
