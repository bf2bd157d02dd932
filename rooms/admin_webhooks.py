"""The console's webhook pages: operators' endpoints (register, see paused ones and resume
them), and every delivery with each of its attempts (status, latency, what the receiver
said), with "Redeliver". Moderators manage endpoints; Support sees them."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from config.admin_console import ConfirmedActionsMixin, ConsoleModelAdmin
from config.errors import DomainError
from rooms.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rooms.outbox import EVENT_TYPES
from rooms.webhooks import webhook_endpoint_create, webhook_endpoint_resume, webhook_redeliver


class WebhookEndpointForm(forms.ModelForm):
    url = forms.CharField(
        max_length=2000,
        label="URL",
        help_text="Where Convoy POSTs each event, signed (Standard Webhooks).",
    )
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in EVENT_TYPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types")


class AttemptsInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "started_at", "outcome", "status_code", "duration_ms", "response_excerpt")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-number",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ConfirmedActionsMixin, ConsoleModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "description", "types", "state", "failing_since", "pending")
    list_filter = ("is_active", ("paused_at", admin.EmptyFieldListFilter))
    search_fields = ("url", "description")
    search_help_text = "URL or description."
    readonly_fields = (
        "url",
        "description",
        "types",
        "state",
        "failing_since",
        "pending",
        "deliveries_link",
        "created_by",
        "created_at",
    )
    change_form_template = "admin/rooms/webhookendpoint/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(pending_count=Count("deliveries", filter=Q(deliveries__status="pending")))
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("url", "description", "event_types")
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_add_permission(self, request):
        return request.user.has_perm("rooms.add_webhookendpoint")

    def changelist_view(self, request, extra_context=None):
        # Staff are told here of every endpoint that stopped receiving.
        for endpoint in WebhookEndpoint.objects.filter(paused_at__isnull=False):
            self.message_user(
                request, f"Paused: {endpoint}. {endpoint.pause_reason}", messages.WARNING
            )
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = webhook_endpoint_create(
            url=data["url"],
            event_types=list(data["event_types"]),
            description=data.get("description") or "",
            actor=request.user,
        )
        obj.pk, obj.secret = created.pk, created.secret
        self.message_user(
            request,
            f"Registered. Its signing secret, shown this once: {created.secret}",
            messages.WARNING,
        )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = dict(extra_context or {})
        context["can_resume"] = request.user.has_perm("rooms.change_webhookendpoint")
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/resume/",
                self.admin_site.admin_view(self.resume_view),
                name="rooms_webhookendpoint_resume",
            ),
        ]
        return own + super().get_urls()

    def resume_view(self, request, object_id):
        endpoint = self.object_for_action(request, object_id)
        if not request.user.has_perm("rooms.change_webhookendpoint"):
            raise PermissionDenied
        return self.confirmed_action(
            request,
            endpoint,
            lambda reason: webhook_endpoint_resume(
                endpoint=endpoint, actor=request.user, reason=reason
            ),
            done=f"Resumed {endpoint}; what waited for it is being delivered, oldest first.",
            title="Resume a paused endpoint",
            question=f"Resume deliveries to {endpoint}?",
            consequence="Every event that waited for it is sent, in order per ride.",
            confirm_label="Yes, resume",
        )

    @admin.display(description="event types")
    def types(self, endpoint):
        return ", ".join(endpoint.event_types)

    @admin.display(description="state")
    def state(self, endpoint):
        if not endpoint.is_active:
            return "Inactive"
        if endpoint.is_paused:
            return format_html('<strong class="paused">Paused</strong>: {}', endpoint.pause_reason)
        return "Receiving"

    @admin.display(description="pending deliveries", ordering="pending_count")
    def pending(self, endpoint):
        return getattr(endpoint, "pending_count", None)

    @admin.display(description="deliveries")
    def deliveries_link(self, endpoint):
        url = reverse("admin:rooms_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?endpoint__id__exact={}">Every delivery</a>', url, endpoint.pk
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ConfirmedActionsMixin, ConsoleModelAdmin):
    list_display = ("event_type", "webhook_id", "endpoint", "status", "attempts", "created_at")
    list_filter = ("status", "event__type")
    list_select_related = ("event", "endpoint")
    search_fields = ("event__event_id",)
    search_help_text = "The event's webhook-id."
    fields = (
        "event_type",
        "webhook_id",
        "endpoint",
        "ride",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    readonly_fields = fields
    inlines = [AttemptsInline]
    change_form_template = "admin/rooms/webhookdelivery/change_form.html"

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/redeliver/",
                self.admin_site.admin_view(self.redeliver_view),
                name="rooms_webhookdelivery_redeliver",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = dict(extra_context or {})
        context["can_redeliver"] = request.user.has_perm("rooms.change_webhookendpoint")
        return super().change_view(request, object_id, form_url, extra_context=context)

    def redeliver_view(self, request, object_id):
        delivery = self.object_for_action(request, object_id)
        if not request.user.has_perm("rooms.change_webhookendpoint"):
            raise PermissionDenied
        return self.confirmed_action(
            request,
            delivery,
            lambda reason: webhook_redeliver(delivery=delivery, actor=request.user, reason=reason),
            done=f"{delivery.event.type} is being sent again to {delivery.endpoint}.",
            title="Redeliver an event",
            question=f"Send {delivery.event.type} to {delivery.endpoint} again?",
            consequence="The receiver gets it again with the same webhook-id.",
            confirm_label="Yes, redeliver",
        )

    @admin.display(description="event", ordering="event__type")
    def event_type(self, delivery):
        return delivery.event.type

    @admin.display(description="webhook-id")
    def webhook_id(self, delivery):
        return delivery.event.event_id

    @admin.display(description="ride")
    def ride(self, delivery):
        url = reverse("admin:rooms_room_change", args=[delivery.room_id])
        return format_html('<a href="{}">{}</a>', url, delivery.room_id)
