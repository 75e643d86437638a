"""What owners and operators do to a job: cancel, replay, discard. Each is one move from the
table, audited in the same transaction."""
from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import events, sensitive
from ..authorization import CANCEL_JOBS, is_operator
from ..errors import ActionForbidden, JobStateConflict
from ..models import WAITING_STATUSES, Job
from ..registry import get_job_type
from .audit import audit_record
from .dispatch import job_publish
from .hooks import job_ended
from .transitions import CANCEL, DISCARD, REPLAY, move_jobs


def job_cancel(job: Job, *, actor: Any, client_address: str | None = None) -> Job:
    """Cancel a waiting job at once; a running one is marked cancelled and its handler stops at
    its next progress() call. A finished job cannot be cancelled (JobStateConflict, HTTP 409).
    Its owner may cancel it, and so may operators with jobs.cancel_job (else ActionForbidden)."""
    if actor.pk != job.owner_id and not is_operator(actor, CANCEL_JOBS):
        raise ActionForbidden(f"Cancelling another user's job needs the permission {CANCEL_JOBS}.")
    now = timezone.now()
    with transaction.atomic():
        if not move_jobs(CANCEL, Job.objects.filter(id=job.id), completed_at=now, next_retry_at=None):
            job.refresh_from_db(fields=["status"])
            raise JobStateConflict(f"Job {job.id} is {job.status} and can no longer be cancelled.")
        # A batch's children that have not started are cancelled with it, and their followers told;
        # running ones stop at their next progress() call only if cancelled themselves, so they are
        # left to finish.
        waiting_children = Job.objects.filter(parent_id=job.id, status__in=WAITING_STATUSES)
        if move_jobs(CANCEL, waiting_children, completed_at=now, next_retry_at=None):
            for child in Job.objects.filter(parent_id=job.id, status=CANCEL.target, completed_at=now):
                events.job_changed(child)
        audit_record(actor=actor, action="job.cancel", job=job, client_address=client_address)
        job.refresh_from_db()
        job_ended(job)
    return job


def job_replay(job: Job, *, actor: Any, client_address: str | None = None, input: Any = None) -> bool:
    """Run a failed or cancelled job again, with a fresh budget of attempts (and, optionally, edited
    input validated by its job type). One conditional UPDATE: of two concurrent replays of the same
    job, exactly one starts a run; the other returns False."""
    job_type = get_job_type(job.type)
    changes: dict[str, Any] = {}
    if input is not None:
        changes["input"] = sensitive.input_encrypt(job_type.input_model, job_type.validate_input(input).model_dump(mode="json"))
    with transaction.atomic():
        replayed = move_jobs(
            REPLAY,
            Job.objects.filter(id=job.id, attempts=job.attempts),
            max_attempts=job.attempts + job_type.retry.max_attempts,
            error_type="",
            error_message="",
            output=None,
            progress=0,
            progress_message="",
            completed_at=None,
            next_retry_at=None,
            dispatched_at=None,
            discarded_at=None,
            **changes,
        )
        if not replayed:
            return False
        audit_record(
            actor=actor,
            action="job.replay_edited" if input is not None else "job.replay",
            job=job,
            client_address=client_address,
            details={"from_status": job.status, "after_attempt": job.attempts, **({"input": changes["input"]} if changes else {})},
        )
        events.job_changed(Job.objects.get(id=job.id))
        transaction.on_commit(partial(job_publish, job.id, job.attempts + 1, job.priority))
    return True


def job_discard(job: Job, *, actor: Any, client_address: str | None = None) -> bool:
    """Take a failed job out of the dead-letter queue; it is kept, and the discard is audited."""
    with transaction.atomic():
        discarded = move_jobs(DISCARD, Job.objects.filter(id=job.id, discarded_at__isnull=True), discarded_at=timezone.now())
        if discarded:
            audit_record(actor=actor, action="job.discard", job=job, client_address=client_address)
    return bool(discarded)
