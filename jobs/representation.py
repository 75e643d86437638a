"""The job as clients see it: GET /api/jobs/{id}, live events and webhooks all show this. Plain
Python, no DRF, so that the engine's events and the apps' webhooks share it with the API."""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timezone as dt_timezone

from django.urls import get_script_prefix, reverse
from django.utils import timezone

from .models import Job, JobStatus
from .sensitive import input_mask


def _iso(value) -> str | None:
    # As DRF renders datetimes: ISO 8601, UTC as "Z".
    if value is None:
        return None
    text = timezone.localtime(value, dt_timezone.utc).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@functools.cache
def _job_path_template(url_name: str, script_prefix: str) -> str:
    return reverse(url_name, args=["{}"])


def job_path(url_name: str, job_id: str) -> str:
    """reverse(url_name, args=[job_id]) without resolving the URLconf for every job (a job id
    needs no escaping); one template per URL name and script prefix."""
    return _job_path_template(url_name, get_script_prefix()).replace("%7B%7D", job_id)


def job_representation(job: Job, absolute: Callable[[str], str] | None = None) -> dict:
    """The job as the API shows it: GET /api/jobs/{id}, live events and webhooks all use this.
    A plain function, because it is on the hot path (twice per job for the live events)."""
    absolute = absolute or (lambda path: path)
    status = job.status
    show_error = job.error_type and status in (JobStatus.FAILED, JobStatus.RETRYING)
    return {
        "id": job.id,
        "type": job.type,
        "status": status,
        "priority": job.priority,
        "progress": job.progress,
        "progress_message": job.progress_message,
        # Sensitive fields are stored encrypted and shown as "***" (jobs/sensitive.py).
        "input": input_mask(job.input),
        "output": job.output if status == JobStatus.COMPLETED else None,
        # The last error is shown while retrying too, so a client sees retries as they happen.
        "error": {"type": job.error_type, "message": job.error_message} if show_error else None,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created_at": _iso(job.created_at),
        "run_at": _iso(job.run_at),
        "started_at": _iso(job.started_at),
        "completed_at": _iso(job.completed_at),
        "next_retry_at": _iso(job.next_retry_at),
        "webhook_url": job.webhook_url,
        "result_url": absolute(job_path("job-result", job.id)) if job.result_file else None,
        "status_url": absolute(job_path("job-detail", job.id)),
    }
