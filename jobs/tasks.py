"""Celery tasks. They take ids, never model instances, and hand straight to a service."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .engine import dispatch
from .runner import job_run_attempt


@shared_task(
    name="jobs.run",
    bind=True,
    acks_late=True,
    time_limit=settings.JOBS_TASK_TIME_LIMIT,
    soft_time_limit=settings.JOBS_TASK_TIME_LIMIT - 15,
)
def run_job(self, job_id: str, attempt: int) -> str:
    """The one task that runs every job type."""
    return job_run_attempt(job_id, attempt, worker=self.request.hostname or "", claim_id=self.request.id)


@shared_task(name="jobs.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Beat runs this every second: due scheduled jobs and lost publishes go to the broker."""
    return dispatch.jobs_dispatch_due()


@shared_task(name="jobs.reap_stalled", ignore_result=True)
def reap_stalled() -> int:
    """Beat runs this every few seconds: running jobs whose worker died get a new attempt."""
    return dispatch.jobs_reap_stalled()
