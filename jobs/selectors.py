"""Reads of job state, scoped to what the asking user may see."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import Job


def jobs_visible_to(user: Any) -> QuerySet[Job]:
    """A user sees their own jobs; staff see all. Anything else does not exist for them (404)."""
    jobs = Job.objects.all()
    return jobs if user.is_staff else jobs.filter(owner=user)


def job_get_for_user(user: Any, job_id: str) -> Job:
    return jobs_visible_to(user).get(id=job_id)


def job_list(user: Any, *, status: str | None = None, type_name: str | None = None) -> QuerySet[Job]:
    jobs = jobs_visible_to(user)
    if status:
        jobs = jobs.filter(status=status)
    if type_name:
        jobs = jobs.filter(type=type_name)
    return jobs.order_by("-id")
