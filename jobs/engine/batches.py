"""Batches: a parent job fans out into children and completes when they all have."""
from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from .. import events
from ..models import TERMINAL_STATUSES, AuditEvent, Job, JobAttempt, JobStatus
from ..registry import get_job_type
from .dispatch import jobs_publish_new
from .hooks import job_ended
from .running import close_attempt, reconnect_once
from .transitions import COMPLETE, fenced_out_error, move_jobs, running


def job_spawn_children(parent: Job, attempt: int, type_name: str, inputs: list[dict], priority: str | None = None) -> int:
    """Create a batch's children in bulk and publish them. Done once per parent: a parent re-run
    after a lost worker finds its children and creates none. Returns the number of children."""
    job_type = get_job_type(type_name)
    validated = [job_type.validate_input(raw).model_dump(mode="json") for raw in inputs]
    with transaction.atomic():
        if not running(parent.id, attempt, parent.claim_id).exists():
            raise fenced_out_error(parent.id)
        existing = Job.objects.filter(parent_id=parent.id).count()
        if existing:
            return existing
        children = Job.objects.bulk_create(
            [
                Job(type=job_type.name, owner_id=parent.owner_id, input=data, priority=priority or parent.priority,
                    parent_id=parent.id, max_attempts=job_type.retry.max_attempts)
                for data in validated
            ],
            batch_size=500,
        )
        # Each child is audited like any submission, as its parent's owner's, naming the parent.
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(actor_id=parent.owner_id, action="job.enqueue", job=child, target=child.id,
                           details={"type": child.type, "priority": child.priority, "parent": parent.id})
                for child in children
            ],
            batch_size=500,
        )
        transaction.on_commit(partial(jobs_publish_new, [child.id for child in children]))
    return len(children)


@reconnect_once
def job_await_children(job_id: str, attempt: int, claim_id, output: Any, duration_ms: int) -> None:
    """The parent's handler has spawned its children: its attempt is over, the job stays running
    (its output kept aside) until the last child finishes."""
    with transaction.atomic():
        if not running(job_id, attempt, claim_id).update(output=output, heartbeat_at=timezone.now()):
            raise fenced_out_error(job_id)
        close_attempt(job_id, attempt, claim_id, JobAttempt.Outcome.COMPLETED, duration_ms)
    job_batch_refresh(job_id)


def job_batch_refresh(parent_id: str) -> None:
    """Bring a running batch parent up to date: progress is the share of children finished; when
    every child is terminal the parent completes, its output counting the children's outcomes and
    summing the numbers in their outputs (e.g. sent, skipped, failed)."""
    counts = dict(Job.objects.filter(parent_id=parent_id).values_list("status").annotate(n=Count("id")).order_by())
    total = sum(counts.values())
    finished = sum(n for status, n in counts.items() if status in TERMINAL_STATUSES)
    if not total:
        return
    now = timezone.now()
    parent = Job.objects.filter(id=parent_id, status=JobStatus.RUNNING)
    if finished < total:
        if parent.filter(progress__lt=100 * finished // total).update(
            progress=100 * finished // total, progress_message=f"{finished}/{total} parts finished", heartbeat_at=now
        ):
            events.job_changed(Job.objects.get(id=parent_id))
        return
    parent_row = parent.only("output").first()
    if parent_row is None:
        return
    output = dict(parent_row.output or {})
    for child_output in Job.objects.filter(parent_id=parent_id, status=JobStatus.COMPLETED).values_list("output", flat=True):
        for key, value in (child_output or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                output[key] = output.get(key, 0) + value
    output["parts"] = {status: counts.get(status, 0) for status in sorted(TERMINAL_STATUSES)}
    with transaction.atomic():
        if move_jobs(COMPLETE, Job.objects.filter(id=parent_id), output=output, progress=100, completed_at=now,
                     heartbeat_at=now, progress_message=f"{total}/{total} parts finished"):
            job_ended(Job.objects.get(id=parent_id))
