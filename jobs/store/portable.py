"""The store through the ORM: any database Django supports (SQLite for `python3 dev.py test`
without DATABASE_URL), and the reference the PostgreSQL store is tested against."""
from __future__ import annotations

from django.db import transaction
from django.db.models import DateTimeField, F, Model, Value
from django.db.models.functions import Coalesce

from ..engine.transitions import CLAIM, Move, move_jobs
from ..models import Job, JobAttempt
from .base import Store


class PortableStore(Store):
    name = "portable"

    def insert_together(self, *new_rows: Model) -> None:
        with transaction.atomic():
            for row in new_rows:
                row.save(force_insert=True)

    def claim(self, job_id, attempt, changes, worker, pid):
        now = changes["heartbeat_at"]
        with transaction.atomic():
            started_at = Coalesce("started_at", Value(now, output_field=DateTimeField()))
            if not move_jobs(CLAIM, Job.objects.filter(id=job_id, attempts=attempt - 1), **changes, started_at=started_at):
                return None
            JobAttempt.objects.create(job_id=job_id, number=attempt, claim_id=changes["claim_id"], worker=worker, pid=pid,
                                      started_at=now)
        return Job.objects.annotate(owner_is_active=F("owner__is_active")).get(id=job_id)

    def finish(self, job_id, attempt, claim_id, move: Move, job_changes, attempt_changes):
        assert claim_id is not None, "a worker's write names its claim"
        with transaction.atomic():
            if not move_jobs(move, Job.objects.filter(id=job_id, attempts=attempt, claim_id=claim_id), **job_changes):
                return None
            JobAttempt.objects.filter(job_id=job_id, number=attempt).update(**attempt_changes)
            return Job.objects.get(id=job_id)

    def mark_dispatched(self, job_id, at):
        Job.objects.filter(id=job_id, dispatched_at__isnull=True).update(dispatched_at=at)
