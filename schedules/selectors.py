"""Reads about schedules: their recent firings and their next run."""
from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs.models import Job

from .timing import next_run


def schedule_recent_jobs(task: PeriodicTask, limit: int = 10) -> QuerySet[Job]:
    """The jobs of the schedule's latest firings, newest first."""
    return Job.objects.filter(schedule_key__startswith=f"{task.name}@").order_by("-run_at", "-id")[:limit]


def schedule_next_run(task: PeriodicTask, now: datetime | None = None) -> datetime | None:
    """The next firing, in the schedule's own time zone (crontabs) or UTC; None when disabled."""
    if not task.enabled:
        return None
    return next_run(task.schedule, task.last_run_at, now or timezone.now())
