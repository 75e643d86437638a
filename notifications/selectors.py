"""Reads of notification state, scoped like the jobs they belong to."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from jobs.selectors import job_get_for_user

from .models import WebhookDelivery


def webhook_deliveries_for_job(user: Any, job_id: str) -> QuerySet[WebhookDelivery]:
    """The job's deliveries, newest first, with their tries. Another user's job does not exist (404)."""
    job = job_get_for_user(user, job_id)
    return job.webhook_deliveries.prefetch_related("attempt_rows").order_by("-id")
