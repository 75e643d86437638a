"""Schedule firings and cleanup. A firing is an ordinary Job owned by the system user."""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from jobs.authorization import system_user_get
from jobs.models import DEAD_LETTERS, Job, JobStatus
from jobs.engine.audit import audit_record
from jobs.engine.submission import job_enqueue

logger = logging.getLogger(__name__)

# Finished jobs that cleanup removes once they are older than JOBS_RETENTION_DAYS. Failed jobs stay
# (they are the dead-letter queue) until an operator replays or discards them; discarded ones go.
REMOVABLE = Q(status__in=(JobStatus.COMPLETED, JobStatus.CANCELLED)) | Q(
    status=JobStatus.FAILED, discarded_at__isnull=False
)


def schedule_key(schedule: str, fired_at: datetime) -> str:
    return f"{schedule}@{fired_at.astimezone(dt_timezone.utc).isoformat()}"


def schedule_fire(
    *, schedule: str, job_type: str, input: dict | None = None, priority: str | None = None, fired_at: datetime | None
) -> Job | None:
    """Create the job of one firing of `schedule`. `fired_at` is the firing's nominal time (the
    same in every beat process); a second call for the same firing creates nothing and returns
    None. Without `fired_at` (a manual "run now") every call creates a job."""
    owner = system_user_get()
    key = schedule_key(schedule, fired_at) if fired_at else None
    try:
        with transaction.atomic():
            # run_at is when the job was meant to run: report jobs derive their period from it.
            job = job_enqueue(owner=owner, type_name=job_type, input=input or {}, priority=priority, run_at=fired_at)
            if key:
                # The unique schedule_key is the arbiter: a second beat's insert of the same
                # firing fails here and its whole transaction (job, audit, publish) rolls back.
                Job.objects.filter(id=job.id).update(schedule_key=key)
            audit_record(
                actor=owner,
                action="schedule.fire",
                job=job,
                target=f"schedule:{schedule}",
                details={"schedule": schedule, "fired_at": fired_at.isoformat() if fired_at else None},
            )
    except IntegrityError:
        logger.info("Schedule %s already fired for %s; not creating a second job.", schedule, fired_at)
        return None
    return job


def jobs_cleanup(
    *, retention_days: int, now: datetime | None = None, batch: int = 200, rest: float | None = None,
    progress=None, sleep=time.sleep,
) -> dict:
    """Remove completed and cancelled jobs (and discarded dead letters) that finished more than
    `retention_days` ago, with their attempts and result files. Failed jobs still in the
    dead-letter queue are kept. Returns what was removed.

    A month of history is millions of rows: they go in short transactions of `batch` jobs, walked
    in `completed_at` order through its index from where the last batch stopped (never rescanning
    what is gone or kept), and a job another process holds is skipped, not waited for. Each
    COMMIT's WAL flush is shared with the submissions committing beside it: at 100,000 jobs,
    batches of 500 held a submit up to 104 ms, batches of 200 up to 34 ms at 86 % of the speed
    (bench/results/scale.md). After each batch it rests `rest` times as long as the batch took
    (JOBS_CLEANUP_REST, 1.0): paced by its own commit time, it yields more when the disk is busy
    (a checkpoint), and its WAL never takes the whole disk from the submissions."""
    rest = settings.JOBS_CLEANUP_REST if rest is None else rest
    cutoff = (now or timezone.now()) - timedelta(days=retention_days)
    old = Job.objects.filter(REMOVABLE, completed_at__lt=cutoff)
    total = old.count()
    removed: Counter[str] = Counter()
    files: list[str] = []
    after: tuple[datetime, str] | None = None
    while True:
        # From where the last batch stopped: an index range, not a rescan from the oldest job.
        page = old if after is None else old.filter(completed_at__gte=after[0]).exclude(completed_at=after[0], id__lte=after[1])
        batch_started = time.monotonic()
        with transaction.atomic():
            chunk = list(
                page.order_by("completed_at", "id").select_for_update(skip_locked=True)
                .values_list("id", "status", "result_file", "completed_at")[:batch]
            )
            if not chunk:
                break
            # Guarded by status again: a job changed meanwhile is not removed.
            Job.objects.filter(REMOVABLE, id__in=[row[0] for row in chunk]).delete()
        if rest:
            sleep(rest * (time.monotonic() - batch_started))
        after = (chunk[-1][3], chunk[-1][0])
        removed.update(status for _, status, _, _ in chunk)
        files += _delete_files([name for _, _, name, _ in chunk if name])
        if progress:
            progress(min(99, 100 * sum(removed.values()) // max(total, 1)), f"removed {sum(removed.values())}/{total} jobs")
    return {
        "cutoff": cutoff.isoformat(),
        "retention_days": retention_days,
        "removed_jobs": sum(removed.values()),
        "removed_by_status": dict(sorted(removed.items())),
        "removed_files": len(files),
        "kept_failed": Job.objects.filter(DEAD_LETTERS, completed_at__lt=cutoff).count(),
    }


def _delete_files(names: list[str]) -> list[str]:
    """Delete result files (and their now empty per-job folder); a file that cannot be deleted is
    logged and left for an operator, it never stops the cleanup."""
    deleted = []
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("Could not delete result file %s", name, exc_info=True)
            continue
        deleted.append(name)
        try:
            os.rmdir(os.path.dirname(default_storage.path(name)))
        except (NotImplementedError, OSError):
            pass  # not a local storage, or the folder holds other files
    return deleted
