from django.contrib import admin, messages

from jobs.admin import ReadOnlyAdmin, job_admin_add_inline
from common.http import client_address
from jobs.authorization import is_operator

from . import services
from .models import REDELIVER_WEBHOOKS, ROTATE_WEBHOOK_SECRETS, SentEmail, WebhookAttempt, WebhookDelivery, WebhookSecret


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "status_code", "error", "response_excerpt", "will_retry"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class WebhookDeliveryInline(admin.TabularInline):
    """The job's webhook deliveries, on the job's admin page; tries are on each delivery's page."""

    model = WebhookDelivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["webhook_id", "event_type", "status", "attempts", "max_attempts", "created_at", "next_attempt_at", "finished_at", "last_try"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="last try")
    def last_try(self, delivery: WebhookDelivery) -> str:
        last = delivery.attempt_rows.order_by("-number").first()
        if last is None:
            return "-"
        return f"{last.status_code or '-'} {last.error[:80]} ({last.duration_ms} ms)"


job_admin_add_inline(WebhookDeliveryInline)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["webhook_id", "job", "event_type", "status", "attempts", "url", "created_at", "finished_at"]
    list_filter = ["status", "event_type", "created_at"]
    search_fields = ["webhook_id", "job__id", "url"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def has_redeliver_permission(self, request) -> bool:
        return is_operator(request.user, REDELIVER_WEBHOOKS)

    @admin.action(description="Redeliver (one more try, same webhook-id)", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        count = services.webhook_deliveries_redeliver(list(queryset.select_related("job")), actor=request.user)
        skipped = queryset.count() - count
        self.message_user(request, f"Redelivering {count}; {skipped} still under way were skipped.", messages.SUCCESS)


@admin.register(SentEmail)
class SentEmailAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "template", "to", "subject", "status", "dedupe_key", "job_id"]
    list_filter = ["status", "template"]
    search_fields = ["to", "dedupe_key", "job_id"]
    readonly_fields = [f.name for f in SentEmail._meta.fields]


@admin.register(WebhookSecret)
class WebhookSecretAdmin(ReadOnlyAdmin):
    """Whose signing secrets exist and when they were rotated; the secrets themselves are never shown."""

    list_display = ["user", "created_at", "rotated_at"]
    search_fields = ["user__username", "user__email"]
    fields = readonly_fields = ["user", "created_at", "rotated_at"]
    actions = ["rotate"]

    def has_rotate_permission(self, request) -> bool:
        return is_operator(request.user, ROTATE_WEBHOOK_SECRETS)

    @admin.action(description="Rotate the selected secrets (e.g. after a leak)", permissions=["rotate"])
    def rotate(self, request, queryset):
        for secret in queryset.select_related("user"):
            services.webhook_secret_rotate(secret.user, actor=request.user, client_address=client_address(request))
        self.message_user(request, f"Rotated {queryset.count()} secret(s); their owners must fetch the new one.",
                          messages.SUCCESS)
