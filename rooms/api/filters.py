import django_filters

from rooms.models import AlertStatus, RideAlert, Room


class RoomFilter(django_filters.FilterSet):
    scope = django_filters.ChoiceFilter(
        choices=[("active", "Active rides"), ("mine", "Rides I created")],
        method="filter_scope",
        empty_label=None,
        help_text="active (default): every live ride; mine: the rides you created.",
    )
    name = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=80, help_text="Part of the name."
    )

    class Meta:
        model = Room
        fields = ["scope", "name"]

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("scope"):
            queryset = queryset.filter(is_active=True)
        return super().filter_queryset(queryset)

    def filter_scope(self, queryset, name, value):
        if value == "mine":
            return queryset.filter(creator=self.request.user)
        return queryset.filter(is_active=True)


class RideAlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=AlertStatus.choices,
        empty_label=None,
        help_text=(
            "Only alerts in this state. A pending SOS (its countdown running) is listed only to "
            "its rider and support."
        ),
    )

    class Meta:
        model = RideAlert
        fields = ["status"]
