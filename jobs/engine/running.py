"""The worker's side of an attempt: claim it, report progress and heartbeats, finish it. Every
write is fenced by the attempt number and the claim id, so a stale worker cannot touch a newer
attempt, nor another claim of the same attempt; the claim and the finish go through the store
(one statement each on PostgreSQL)."""
from __future__ import annotations

import functools
import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from .. import events
from ..errors import JobCancelled
from ..models import Job, JobAttempt
from ..store import store
from .dispatch import job_publish
from .hooks import ending, job_ended
from .transitions import COMPLETE, FAIL, RETRY, Move, as_claim_id, fenced_out_error, running

logger = logging.getLogger(__name__)


def reconnect_once(func):
    """Worker-side writes survive a dropped database connection (server restart, failover,
    pg_terminate_backend): close the dead connection and run the write once more. Every write
    here is a conditional UPDATE, so running it again after an unknown outcome is safe."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block:
                raise
            logger.warning("Database connection lost in %s; reconnecting once.", func.__name__)
            connection.close()
            return func(*args, **kwargs)

    return wrapper


@reconnect_once
def job_claim(job_id: str, attempt: int, *, worker: str = "", pid: int | None = None, claim_id=None) -> Job | None:
    """Take attempt `attempt` of a waiting job: the job becomes running and gets an attempt row.
    None when it is not this message's to run (a duplicate, a stale redelivery, or a job cancelled
    meanwhile). The job comes back with `owner_is_active` read alongside it, and with its
    `claim_id` (the message's id, else a new one), which every later write of the attempt names."""
    changes = dict(attempts=attempt, claim_id=as_claim_id(claim_id), heartbeat_at=timezone.now(), next_retry_at=None,
                   progress=0, progress_message="")
    job = store().claim(job_id, attempt, changes, worker, pid)
    if job is not None:
        # "running" is news only for a job that runs a while: one that finishes within the
        # coalescing window sends just its terminal event.
        events.job_changed(job, hold=settings.JOBS_PROGRESS_MIN_INTERVAL)
    return job


@reconnect_once
def job_report_progress(job: Job, attempt: int, percent: int, message: str, at: float | None = None) -> None:
    """Persist progress (and a heartbeat) and tell the job's followers; raise JobCancelled or
    AttemptSuperseded when fenced out. `at`: when the handler reported it."""
    message = message[:200]
    if not running(job.id, attempt, job.claim_id).update(progress=percent, progress_message=message, heartbeat_at=timezone.now()):
        raise fenced_out_error(job.id)
    job.progress, job.progress_message = percent, message
    events.job_changed(job, at=at)


@reconnect_once
def job_heartbeat(job_id: str, attempt: int, claim_id) -> bool:
    """The worker still holds this attempt; False once it no longer does (cancelled, superseded)."""
    return bool(running(job_id, attempt, claim_id).update(heartbeat_at=timezone.now()))


@reconnect_once
def job_attach_result(job_id: str, attempt: int, claim_id, name: str) -> None:
    if not running(job_id, attempt, claim_id).update(result_file=name):
        raise fenced_out_error(job_id)


@reconnect_once
def job_complete(
    job_id: str, attempt: int, claim_id, output: Any, duration_ms: int, progress_message: str = "",
    has_listeners: bool = True,
) -> bool:
    """The attempt succeeded. `has_listeners=False` (the runner asks jobs.engine.hooks about the
    claimed job) lets PostgreSQL skip the transaction that a listener's writes would share."""
    now = timezone.now()
    return _end_attempt(
        job_id, attempt, claim_id, COMPLETE, has_listeners,
        dict(output=output, progress=100, progress_message=progress_message[:200],
             completed_at=now, heartbeat_at=now, error_type="", error_message=""),
        dict(outcome=JobAttempt.Outcome.COMPLETED, finished_at=now, duration_ms=duration_ms),
    )


@reconnect_once
def job_retry_later(job_id: str, attempt: int, claim_id, error: dict, delay: float, duration_ms: int) -> bool:
    """The attempt hit a transient error: wait `delay` seconds, then run attempt + 1."""
    now = timezone.now()
    job = _finish_attempt(
        job_id,
        attempt,
        claim_id,
        RETRY,
        dict(next_retry_at=now + timedelta(seconds=delay), error_type=error["error_type"],
             error_message=error["error_message"], dispatched_at=None, heartbeat_at=None),
        dict(outcome=JobAttempt.Outcome.RETRYING, finished_at=now, duration_ms=duration_ms, **error),
    )
    if job is None:
        return False
    events.job_changed(job)
    transaction.on_commit(partial(job_publish, job_id, attempt + 1, job.priority, countdown=delay))
    return True


@reconnect_once
def job_fail(job_id: str, attempt: int, claim_id, error: dict, duration_ms: int, has_listeners: bool = True) -> bool:
    """The attempt failed for good (a permanent error, or its last attempt): the job is a dead letter."""
    now = timezone.now()
    return _end_attempt(
        job_id, attempt, claim_id, FAIL, has_listeners,
        dict(completed_at=now, heartbeat_at=now, error_type=error["error_type"], error_message=error["error_message"]),
        dict(outcome=JobAttempt.Outcome.FAILED, finished_at=now, duration_ms=duration_ms, **error),
    )


def _end_attempt(
    job_id: str, attempt: int, claim_id, move: Move, has_listeners: bool, job_changes: dict, attempt_changes: dict
) -> bool:
    """Finish the attempt with a move that ends the job, and what follows a job's end, together."""
    with ending(has_listeners):
        job = _finish_attempt(job_id, attempt, claim_id, move, job_changes, attempt_changes)
        if job is None:
            return False
        job_ended(job)
    return True


@reconnect_once
def job_attempt_cancelled(job_id: str, attempt: int, claim_id, duration_ms: int) -> None:
    """The handler stopped because the job was cancelled while it ran; the job row already says so."""
    close_attempt(job_id, attempt, claim_id, JobAttempt.Outcome.CANCELLED, duration_ms)


def close_attempt(job_id: str, attempt: int, claim_id, outcome: str, duration_ms: int) -> None:
    """Close the attempt row of this claim (not another claim's of the same attempt number)."""
    JobAttempt.objects.filter(job_id=job_id, number=attempt, claim_id=claim_id).update(
        outcome=outcome, finished_at=timezone.now(), duration_ms=duration_ms
    )


def _finish_attempt(
    job_id: str, attempt: int, claim_id, move: Move, job_changes: dict, attempt_changes: dict
) -> Job | None:
    """End attempt `attempt` of a running job with `move` (complete, retry or fail): move the job
    (fenced by status and attempt) and close its attempt row. Returns the job as it now is; None
    when fenced out, and then only the attempt row is closed, as cancelled or lost."""
    job = store().finish(job_id, attempt, claim_id, move, job_changes, attempt_changes)
    if job is None:
        fenced_out = fenced_out_error(job_id)
        outcome = JobAttempt.Outcome.CANCELLED if isinstance(fenced_out, JobCancelled) else JobAttempt.Outcome.LOST
        JobAttempt.objects.filter(job_id=job_id, number=attempt, claim_id=claim_id).update(
            **{**attempt_changes, "outcome": outcome}
        )
    return job
