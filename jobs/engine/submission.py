"""Submitting a job: authorize, validate, store it with its audit event, publish it on commit."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import sensitive
from ..authorization import submission_refusal
from ..errors import ActionForbidden, IdempotencyKeyReused
from ..models import Job, JobStatus
from ..registry import JobType, get_job_type
from ..store import store
from .audit import audit_event, audit_record
from .dispatch import job_publish_first

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)


def job_enqueue(
    *,
    owner: Any,
    type_name: str,
    input: Any,
    priority: str | None = None,
    webhook_url: str = "",
    run_at: datetime | None = None,
    client_address: str | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
) -> Job:
    """Check that `owner` may submit it, validate input against the job type, store the job, and
    publish it once the row is committed."""
    job_type = get_job_type(type_name)
    job_submission_authorize(owner, job_type, priority, client_address)
    return _job_insert(
        owner=owner, job_type=job_type, input=input, priority=priority, webhook_url=webhook_url, run_at=run_at,
        client_address=client_address, idempotency_key=idempotency_key, request_fingerprint=request_fingerprint,
    )


def _job_insert(
    *, owner: Any, job_type: JobType, input: Any, priority: str | None = None, webhook_url: str = "",
    run_at: datetime | None = None, client_address: str | None = None, idempotency_key: str | None = None,
    request_fingerprint: str = "",
) -> Job:
    """job_enqueue once authorized: validate, store with its audit event, publish on commit."""
    data = job_type.validate_input(input)
    now = timezone.now()
    scheduled = run_at is not None and run_at > now
    job = Job(
        type=job_type.name,
        owner=owner,
        input=sensitive.input_encrypt(job_type.input_model, data.model_dump(mode="json")),
        priority=priority or job_type.default_priority,
        webhook_url=webhook_url or "",
        run_at=run_at,
        status=JobStatus.SCHEDULED if scheduled else JobStatus.PENDING,
        max_attempts=job_type.retry.max_attempts,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
        # Marked dispatched as it is stored, which saves the submit an UPDATE after the publish;
        # job_publish_first takes the mark back when the broker refuses the message.
        dispatched_at=None if scheduled else now,
    )
    audit = audit_event(
        actor=owner, action="job.enqueue", job=job, client_address=client_address,
        details={"type": job.type, "priority": job.priority},
    )
    store().insert_together(job, audit)
    if not scheduled:
        transaction.on_commit(partial(job_publish_first, job.id, job.priority))
    return job


def job_submission_authorize(owner: Any, job_type: JobType, priority: str | None, client_address: str | None) -> None:
    """Raise ActionForbidden (HTTP 403) when `owner` may not submit `job_type` at `priority`; the
    refusal is audited. Outside any transaction, so that the audit row stays."""
    refusal = submission_refusal(owner, job_type, priority)
    if refusal is None:
        return
    audit_record(actor=owner, action="job.submit_refused", target=job_type.name, client_address=client_address,
                 details={"type": job_type.name, "priority": priority, "reason": refusal})
    raise ActionForbidden(refusal)


def job_enqueue_idempotent(*, owner: Any, idempotency_key: str, request_fingerprint: str, **submission) -> tuple[Job, bool]:
    """job_enqueue behind an Idempotency-Key: the same key and request from the same owner within
    24 hours returns the original job (created=False); the same key with a different request
    raises IdempotencyKeyReused. Concurrent duplicates create one job: the unique (owner, key)
    constraint lets exactly one INSERT win, and the others read the winner."""
    job_type = get_job_type(submission.pop("type_name"))
    # Before the transaction below, whose rollback would take the refusal's audit row with it.
    job_submission_authorize(owner, job_type, submission.get("priority"), submission.get("client_address"))
    existing = _job_for_idempotency_key(owner, idempotency_key)
    if existing is None:
        try:
            with transaction.atomic():
                job = _job_insert(
                    owner=owner, job_type=job_type, idempotency_key=idempotency_key,
                    request_fingerprint=request_fingerprint, **submission,
                )
            return job, True
        except IntegrityError:
            existing = Job.objects.get(owner=owner, idempotency_key=idempotency_key)
    if existing.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused()
    return existing, False


def _job_for_idempotency_key(owner: Any, key: str) -> Job | None:
    job = Job.objects.filter(owner=owner, idempotency_key=key).first()
    if job is not None and job.created_at < timezone.now() - IDEMPOTENCY_KEY_TTL:
        # Expired: free the key for a new request.
        Job.objects.filter(id=job.id, idempotency_key=key).update(idempotency_key=None)
        return None
    return job
