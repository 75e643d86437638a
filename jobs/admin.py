from django.contrib import admin

from .models import AuditEvent, Job, JobAttempt


class JobAttemptInline(admin.TabularInline):
    model = JobAttempt
    extra = 0
    can_delete = False
    fields = ["number", "outcome", "worker", "pid", "started_at", "finished_at", "duration_ms", "error_type", "error_message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "status", "priority", "owner", "progress", "attempts", "created_at", "completed_at"]
    list_filter = ["status", "type", "priority", "created_at"]
    search_fields = ["id", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = [f.name for f in Job._meta.fields]
    inlines = [JobAttemptInline]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "target", "client_address"]
    list_filter = ["action", "created_at"]
    search_fields = ["target", "actor__username"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
