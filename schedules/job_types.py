"""Housekeeping job types that schedules fire."""
from __future__ import annotations

from django.conf import settings
from pydantic import Field

from jobs.authorization import Submitters
from jobs.context import JobContext
from jobs.registry import JobInput, RetryPolicy, job_type

from .services import jobs_cleanup


class CleanupInput(JobInput):
    retention_days: int | None = Field(
        None, ge=1, description="Remove jobs finished longer ago than this; default JOBS_RETENTION_DAYS."
    )


# System-only: it removes every user's history.
@job_type("jobs.cleanup", input=CleanupInput, submitters=Submitters.SYSTEM,
          retry=RetryPolicy(max_attempts=3, base=10.0, cap=300.0))
def cleanup(ctx: JobContext, data: CleanupInput) -> dict:
    """Remove completed and cancelled jobs and their result files older than the retention period;
    failed jobs are kept until handled. The output says what was removed."""
    ctx.progress(1, "finding old jobs")
    result = jobs_cleanup(retention_days=data.retention_days or settings.JOBS_RETENTION_DAYS, progress=ctx.progress)
    ctx.progress(100, f"removed {result['removed_jobs']} jobs")
    return result
