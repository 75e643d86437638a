"""The operator's console: jobs, the dead-letter queue (replay, edit and replay, discard), audit."""
from __future__ import annotations

import json
import math
from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from common.http import client_address
from common.pagination import CappedCountPaginator

from .engine import actions
from .authorization import CANCEL_JOBS, DISCARD_JOBS, REPLAY_EDITED_JOBS, REPLAY_JOBS, VIEW_JOBS, is_operator
from .errors import InvalidJobInput, JobStateConflict, UnknownJobType
from .models import DEAD_LETTERS, AuditEvent, DeadLetter, Job, JobAttempt, JobStatus
from .sensitive import MASK, input_mask, sensitive_fields


def pretty_json(value) -> str:
    if value in (None, "", {}):
        return "—"
    return format_html("<pre style='margin:0;white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class JobAttemptInline(admin.TabularInline):
    model = JobAttempt
    extra = 0
    can_delete = False
    fields = ["number", "outcome", "worker", "pid", "started_at", "finished_at", "duration_ms", "error_type",
              "error_message", "traceback_text"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Attempts are part of the job: whoever may view jobs reads them.
        return is_operator(request.user, VIEW_JOBS)

    @admin.display(description="traceback")
    def traceback_text(self, attempt: JobAttempt) -> str:
        if not attempt.traceback:
            return "—"
        return format_html("<details><summary>show</summary><pre style='white-space:pre-wrap'>{}</pre></details>",
                           attempt.traceback)


# Inlines the apps built on the engine add to a job's page (notifications: its webhook deliveries).
_app_inlines: list[type[admin.options.InlineModelAdmin]] = []


def job_admin_add_inline(inline: type[admin.options.InlineModelAdmin]) -> None:
    if inline not in _app_inlines:
        _app_inlines.append(inline)


class JobTypeFilter(admin.SimpleListFilter):
    """The registered job types: no query (listing the types that have jobs reads every job)."""

    title = "type"
    parameter_name = "type__exact"

    def lookups(self, request, model_admin):
        from .registry import all_job_types

        return sorted((job_type.name, job_type.name) for job_type in all_job_types())

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


# The dead-letter list's error figures read this many of the newest dead letters, not all of them.
RECENT_DEAD_LETTERS = 10_000


def recent_error_counts(request, dead_letters) -> list[dict]:
    """Error types among the newest dead letters, most frequent first (read once per request)."""
    if not hasattr(request, "recent_error_counts"):
        # Counted here, not grouped in SQL: the newest rows' error types come from the dead letters'
        # covering index alone, where a GROUP BY over them would read each row from the table.
        counts = Counter(dead_letters.order_by("-id").values_list("error_type", flat=True)[:RECENT_DEAD_LETTERS])
        request.recent_error_counts = [{"error_type": error_type, "count": count}
                                       for error_type, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    return request.recent_error_counts


class ErrorTypeFilter(admin.SimpleListFilter):
    """The error types among the newest dead letters."""

    title = "error type"
    parameter_name = "error_type"

    def lookups(self, request, model_admin):
        rows = recent_error_counts(request, model_admin.get_queryset(request))
        return [(row["error_type"], row["error_type"] or "(none)") for row in rows]

    def queryset(self, request, queryset):
        return queryset.filter(error_type=self.value()) if self.value() is not None else queryset


class JobAdminBase(admin.ModelAdmin):
    list_display = ["id", "type", "status_badge", "priority", "owner", "progress", "attempts_used", "error_type",
                    "created_at", "completed_at"]
    list_select_related = ["owner"]
    search_fields = ["=id", "owner__username", "owner__email"]  # what get_search_results does, for the search box
    # Months of history: counts stop at 10,000 (filters narrow further), no second full count,
    # and no date hierarchy (it reads every job's date); the created/completed filters remain.
    paginator = CappedCountPaginator
    show_full_result_count = False
    inlines = [JobAttemptInline]
    readonly_fields = [
        "id", "type", "status", "priority", "owner", "progress", "progress_message", "input_json", "output_json",
        "error_type", "error_message", "last_traceback", "attempts", "max_attempts", "created_at", "run_at",
        "dispatched_at", "started_at", "heartbeat_at", "next_retry_at", "completed_at", "discarded_at",
        "webhook_url", "result_file", "parent", "idempotency_key", "schedule_key",
    ]
    fields = readonly_fields
    actions = ["replay_selected", "cancel_selected"]

    def get_inlines(self, request, obj):
        return [*self.inlines, *_app_inlines]

    def get_search_results(self, request, queryset, search_term):
        """A job id finds that job (through the primary key); other text finds the jobs of the users
        whose username or email contains it (through the owner index). Django's own search ORs
        UPPER(id) with a join on the users, which reads every job."""
        term = search_term.strip()
        if not term:
            return queryset, False
        owners = get_user_model().objects.filter(Q(username__icontains=term) | Q(email__icontains=term)).values("pk")
        matches = Q(owner__in=owners)
        if len(term) == 26 and term.isalnum():  # it may be a job id (ULIDs are upper case)
            matches |= Q(id=term.upper())
        return queryset.filter(matches), False

    def has_add_permission(self, request):
        return False

    # Every page and action asks for its own permission (jobs.authorization); the dead-letter
    # proxy shares the job's permissions.
    def has_view_permission(self, request, obj=None):
        return is_operator(request.user, VIEW_JOBS)

    def has_replay_permission(self, request):
        return is_operator(request.user, REPLAY_JOBS)

    def has_cancel_permission(self, request):
        return is_operator(request.user, CANCEL_JOBS)

    def has_discard_permission(self, request):
        return is_operator(request.user, DISCARD_JOBS)

    def has_change_permission(self, request, obj=None):
        # View-only: a job changes only through the fenced state machine (replay, cancel, discard).
        # A "Save" here would write back every column as read a moment before, over a worker's update.
        return False

    def has_delete_permission(self, request, obj=None):
        # Jobs leave through the cleanup schedule; an operator discards a dead letter (audited).
        return False

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: Job) -> str:
        colours = {"completed": "#17642f", "failed": "#8f1d1d", "running": "#1b4f91", "retrying": "#7a5300"}
        return format_html("<b style='color:{}'>{}</b>", colours.get(job.status, "#555"), job.status)

    @admin.display(description="attempts")
    def attempts_used(self, job: Job) -> str:
        return f"{job.attempts}/{job.max_attempts}"

    @admin.display(description="input")
    def input_json(self, job: Job) -> str:
        return pretty_json(input_mask(job.input))

    @admin.display(description="output")
    def output_json(self, job: Job) -> str:
        return pretty_json(job.output)

    @admin.display(description="traceback (last attempt)")
    def last_traceback(self, job: Job) -> str:
        attempt = job.attempt_rows.exclude(traceback="").order_by("-number").first()
        if attempt is None:
            return "—"
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", attempt.traceback)

    @admin.action(description="Replay selected jobs (failed or cancelled)", permissions=["replay"])
    def replay_selected(self, request, queryset):
        replayed = skipped = 0
        for job in queryset:
            if job.status in (JobStatus.FAILED, JobStatus.CANCELLED) and actions.job_replay(
                job, actor=request.user, client_address=client_address(request)
            ):
                replayed += 1
            else:
                skipped += 1
        self.message_user(request, f"Replayed {replayed} job(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Skipped {skipped} job(s) that were not failed or cancelled "
                                       "(or were replayed meanwhile).", messages.WARNING)

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        cancelled = 0
        for job in queryset:
            try:
                actions.job_cancel(job, actor=request.user, client_address=client_address(request))
                cancelled += 1
            except JobStateConflict:
                pass
        self.message_user(request, f"Cancelled {cancelled} of {queryset.count()} job(s).", messages.SUCCESS)


@admin.register(Job)
class JobAdmin(JobAdminBase):
    # No owner filter: listing the owners that have jobs reads every job (search by username instead).
    list_filter = ["status", JobTypeFilter, "priority", "created_at"]


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class ReplayInputForm(forms.Form):
    input = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "cols": 80, "style": "font-family:monospace"}))

    def __init__(self, *args, job: Job, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job

    def clean_input(self):
        try:
            # As strict as the API's parser: no NaN or Infinity, and no number too large for a float.
            value = json.loads(self.cleaned_data["input"], parse_float=_finite_float, parse_constant=_no_constant)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        from .registry import get_job_type

        try:
            job_type = get_job_type(self.job.type)
            job_type.validate_input(value)
        except (InvalidJobInput, UnknownJobType) as exc:
            errors = exc.errors.get("input", exc.errors)
            raise forms.ValidationError([f"{field}: {'; '.join(msgs)}" for field, msgs in errors.items()]) from None
        masked = sorted(name for name in sensitive_fields(job_type.input_model) if value.get(name) == MASK)
        if masked:
            # The stored value is never shown; replaying "***" would silently replace it.
            raise forms.ValidationError(f"Sensitive fields are masked: type their values again ({', '.join(masked)}), "
                                        "or use Replay without edits to keep them.")
        return value


@admin.register(DeadLetter)
class DeadLetterAdmin(JobAdminBase):
    list_filter = [JobTypeFilter, ErrorTypeFilter, "completed_at", "priority"]
    actions = ["replay_selected", "discard_selected"]
    change_list_template = "admin/jobs/deadletter/change_list.html"
    change_form_template = "admin/jobs/deadletter/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(DEAD_LETTERS)

    def changelist_view(self, request, extra_context=None):
        counts = recent_error_counts(request, self.get_queryset(request))
        context = {**(extra_context or {}), "error_counts": counts, "recent_dead_letters": RECENT_DEAD_LETTERS}
        return super().changelist_view(request, context)

    def get_urls(self):
        return [
            path("<path:object_id>/replay-with-input/", self.admin_site.admin_view(self.replay_with_input_view),
                 name="jobs_deadletter_replay_with_input"),
            path("<path:object_id>/replay/", self.admin_site.admin_view(self.replay_view), name="jobs_deadletter_replay"),
            path("<path:object_id>/discard/", self.admin_site.admin_view(self.discard_view),
                 name="jobs_deadletter_discard"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Which of the page's tools (replay, edit and replay, discard) this operator may use.
        tools = {
            "can_replay": self.has_replay_permission(request),
            "can_replay_edited": is_operator(request.user, REPLAY_EDITED_JOBS),
            "can_discard": self.has_discard_permission(request),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **tools})

    def _dead_letter(self, request, object_id, permission: str) -> Job:
        if not is_operator(request.user, permission):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=object_id)

    def replay_view(self, request, object_id):
        job = self._dead_letter(request, object_id, REPLAY_JOBS)
        if request.method == "POST":
            if actions.job_replay(job, actor=request.user, client_address=client_address(request)):
                self.message_user(request, f"Job {job.id} replayed.", messages.SUCCESS)
            else:
                self.message_user(request, f"Job {job.id} was replayed meanwhile; nothing done.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.id]))

    def discard_view(self, request, object_id):
        job = self._dead_letter(request, object_id, DISCARD_JOBS)
        if request.method == "POST" and actions.job_discard(job, actor=request.user, client_address=client_address(request)):
            self.message_user(request, f"Job {job.id} discarded; it stays in the job list for audit.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:jobs_deadletter_changelist"))

    def replay_with_input_view(self, request, object_id):
        job = self._dead_letter(request, object_id, REPLAY_EDITED_JOBS)
        form = ReplayInputForm(request.POST or None, job=job, initial={"input": json.dumps(input_mask(job.input), indent=2)})
        if request.method == "POST" and form.is_valid():
            if actions.job_replay(job, actor=request.user, client_address=client_address(request),
                                   input=form.cleaned_data["input"]):
                self.message_user(request, f"Job {job.id} replayed with the edited input.", messages.SUCCESS)
            else:
                self.message_user(request, f"Job {job.id} was replayed meanwhile; nothing done.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.id]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "job": job, "form": form,
                   "title": f"Replay {job.type} {job.id} with edited input"}
        return TemplateResponse(request, "admin/jobs/deadletter/replay_with_input.html", context)

    @admin.action(description="Discard selected dead letters (kept for audit)", permissions=["discard"])
    def discard_selected(self, request, queryset):
        discarded = sum(
            actions.job_discard(job, actor=request.user, client_address=client_address(request)) for job in queryset
        )
        self.message_user(request, f"Discarded {discarded} job(s).", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody may add, change or delete in the admin (audit events, alerts)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "actor", "target", "client_address"]
    list_filter = ["action", "created_at"]
    search_fields = ["target", "actor__username"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
