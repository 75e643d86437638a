"""The schedules admin: django-celery-beat's, plus each schedule's last runs, next run, input
validation for job schedules, and an audit event for every change."""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from common.http import client_address
from jobs.errors import InvalidJobInput, UnknownJobType
from jobs.registry import get_job_type
from jobs.engine.audit import audit_record

from .selectors import schedule_next_run, schedule_recent_jobs
from .tasks import FIRE_TASK


class ScheduleForm(PeriodicTaskForm):
    def clean(self):
        data = super().clean()
        if data.get("task") == FIRE_TASK and "kwargs" in data:
            self.cleaned_data["kwargs"] = _clean_job_kwargs(data["kwargs"])
        return self.cleaned_data


def _clean_job_kwargs(raw: str) -> str:
    """A job schedule's arguments: {"job_type": ..., "input": {...}, "priority"?}, the input valid
    for the job type, so that a typo fails here and not at 09:00 tomorrow."""
    kwargs = json.loads(raw or "{}")
    if not isinstance(kwargs, dict) or set(kwargs) - {"job_type", "input", "priority"}:
        raise forms.ValidationError({"kwargs": 'Expected {"job_type": ..., "input": {...}, "priority": ...}.'})
    try:
        get_job_type(kwargs.get("job_type", "")).validate_input(kwargs.get("input") or {})
    except UnknownJobType:
        raise forms.ValidationError({"kwargs": f"Unknown job type {kwargs.get('job_type')!r}."}) from None
    except InvalidJobInput as exc:
        raise forms.ValidationError({"kwargs": f"Invalid input: {exc.errors['input']}"}) from None
    if kwargs.get("priority") not in (None, "high", "normal", "low"):
        raise forms.ValidationError({"kwargs": "priority must be high, normal or low."})
    return json.dumps(kwargs)


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class ScheduleAdmin(PeriodicTaskAdmin):
    form = ScheduleForm
    list_display = ("name", "enabled", "scheduler", "next_run", "last_run_at", "task")
    readonly_fields = (*PeriodicTaskAdmin.readonly_fields, "next_run", "last_runs")
    fieldsets = (
        *PeriodicTaskAdmin.fieldsets[:2],
        ("Runs", {"fields": ("next_run", "last_runs"), "classes": ("extrapretty", "wide")}),
        *PeriodicTaskAdmin.fieldsets[2:],
    )

    # django-celery-beat's actions ask for no permission of their own: they change schedules (or
    # fire them now), so they need the change permission, like the edit form.
    @admin.action(description="Enable selected schedules", permissions=["change"])
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, queryset)

    @admin.action(description="Disable selected schedules", permissions=["change"])
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, queryset)

    @admin.action(description="Toggle activity of selected schedules", permissions=["change"])
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, queryset)

    @admin.action(description="Run selected schedules now", permissions=["change"])
    def run_tasks(self, request, queryset):
        return super().run_tasks(request, queryset)

    @admin.display(description="next run")
    def next_run(self, obj: PeriodicTask) -> str:
        when = schedule_next_run(obj) if obj.pk else None
        if when is None:
            return "-"
        return f"{when:%Y-%m-%d %H:%M %Z} ({when.tzinfo})"

    @admin.display(description="last runs")
    def last_runs(self, obj: PeriodicTask) -> str:
        jobs = list(schedule_recent_jobs(obj)) if obj.pk else []
        if not jobs:
            return "No job created yet."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> fired for {} &mdash; {}</li>',
                (
                    (reverse("admin:jobs_job_change", args=[job.id]), job.id,
                     f"{job.run_at:%Y-%m-%d %H:%M %Z}" if job.run_at else "-", job.status)
                    for job in jobs
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="schedule.change" if change else "schedule.create",
            target=f"schedule:{obj.name}",
            client_address=client_address(request),
            details={"changed": form.changed_data},
        )

    def delete_model(self, request, obj):
        self._audit_delete(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        self._audit_delete(request, queryset)
        super().delete_queryset(request, queryset)

    def _audit_delete(self, request, tasks) -> None:
        for task in tasks:
            audit_record(actor=request.user, action="schedule.delete", target=f"schedule:{task.name}",
                         client_address=client_address(request))
