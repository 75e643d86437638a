"""Getting work to the workers, and getting it back when it is lost.

- publish_or_defer: send a task message; a broker that is down costs only time (jobs and webhook
  tries alike stay due in the database, and a dispatcher publishes them again).
- jobs_dispatch_due (beat, every second): scheduled jobs whose run_at has come, publishes that
  failed, and messages the broker lost.
- jobs_reap_stalled (beat, every few seconds): running jobs whose heartbeat stopped get their next
  attempt, or fail as lost when none is left.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from ..models import Job, JobAttempt, JobStatus, job_route
from ..store import store
from .. import events, liveness
from . import direct_publish, hooks
from .transitions import HAND_BACK, LOSE_AND_FAIL, LOSE_AND_RETRY, RELEASE, as_claim_id, move_jobs

logger = logging.getLogger(__name__)


def publish_or_defer(task, args: tuple, *, countdown: float | None = None, **route) -> bool:
    """Send `task(*args)` to the broker. When the broker cannot take it, log and return False: the
    caller's row stays due in the database, and its dispatcher publishes it again."""
    try:
        if countdown is None and route.keys() == {"queue"} and direct_publish.direct_publish_possible():
            direct_publish.publish_direct(task, args, route["queue"])  # the same message, without Celery's layers
        else:
            # repr, not Celery's saferepr (a tenth of a publish's CPU): the arguments are a few ids.
            task.apply_async(args, countdown=countdown, argsrepr=repr(args), kwargsrepr="{}", **route)
    except Exception:
        logger.warning("Could not publish %s%r; the dispatcher will retry.", task.name, args, exc_info=True)
        return False
    return True


def publish_each(due: Iterable[tuple], publish: Callable[..., bool]) -> int:
    """Publish every due item (a row of `publish`'s arguments); how many the broker took."""
    return sum(bool(publish(*item)) for item in list(due))


def job_publish(job_id: str, attempt: int, priority: str, countdown: float | None = None) -> bool:
    """Hand "run job X, attempt N" to the broker and record that it was dispatched."""
    from ..tasks import run_job

    if not publish_or_defer(run_job, (job_id, attempt), countdown=countdown, **job_route(priority)):
        return False
    store().mark_dispatched(job_id, timezone.now())
    return True


def job_publish_first(job_id: str, priority: str) -> bool:
    """Publish a new job's first attempt. Its row was stored already marked dispatched (one
    statement fewer per submit); when the broker refuses the message the mark is taken back, so
    the dispatcher publishes it within JOBS_DISPATCH_GRACE_SECONDS. Should the process die between
    the commit and the publish, the job is one whose message was lost:
    jobs_redispatch_lost_messages publishes it after JOBS_REDISPATCH_SECONDS."""
    from ..tasks import run_job

    if publish_or_defer(run_job, (job_id, 1), **job_route(priority)):
        return True
    Job.objects.filter(id=job_id, attempts=0, status=JobStatus.PENDING).update(dispatched_at=None)
    return False


def jobs_publish_new(job_ids: list[str]) -> None:
    """Publish first attempts of many jobs, then mark them dispatched in one UPDATE; stops at the
    first publish the broker refuses (the dispatcher publishes the rest)."""
    from ..tasks import run_job

    priorities = dict(Job.objects.filter(id__in=job_ids).values_list("id", "priority"))
    published = []
    for job_id in job_ids:
        if not publish_or_defer(run_job, (job_id, 1), **job_route(priorities[job_id])):
            break
        published.append(job_id)
    Job.objects.filter(id__in=published, dispatched_at__isnull=True).update(dispatched_at=timezone.now())


def jobs_dispatch_due(now: datetime | None = None, limit: int = 500) -> int:
    """Publish what is due: scheduled jobs whose run_at has come, and jobs whose publish was lost."""
    now = now or timezone.now()
    published = 0
    due_ids = Job.objects.filter(status=JobStatus.SCHEDULED, run_at__lte=now).values_list("id", flat=True)[:limit]
    for job_id in list(due_ids):
        if move_jobs(RELEASE, Job.objects.filter(id=job_id)):
            job = Job.objects.only("attempts", "priority").get(id=job_id)
            published += job_publish(job_id, job.attempts + 1, job.priority)

    grace = now - timedelta(seconds=settings.JOBS_DISPATCH_GRACE_SECONDS)
    lost = Job.objects.filter(dispatched_at__isnull=True).filter(
        Q(status=JobStatus.PENDING, created_at__lt=grace) | Q(status=JobStatus.RETRYING, next_retry_at__lt=grace)
    )
    published += publish_each(
        ((job_id, attempts + 1, priority) for job_id, attempts, priority in lost.values_list("id", "attempts", "priority")[:limit]),
        job_publish,
    )
    return published + jobs_redispatch_lost_messages(now, limit)


def jobs_redispatch_lost_messages(now: datetime, limit: int = 500) -> int:
    """Publish again jobs whose message the broker lost (a Redis restart without persistence, a
    failover). The evidence: a queue holding fewer messages than jobs that have waited on it for
    longer than JOBS_REDISPATCH_SECONDS. A job that did have its message gets two; the second is
    dropped at claim, so a false alarm costs one UPDATE per job."""
    from ..selectors import broker_queue_lengths

    stale = now - timedelta(seconds=settings.JOBS_REDISPATCH_SECONDS)
    overdue = Job.objects.filter(dispatched_at__lt=stale).filter(
        Q(status=JobStatus.PENDING) | Q(status=JobStatus.RETRYING, next_retry_at__lt=stale)
    )
    # One grouped count per tick; the broker is asked only when some job is overdue at all.
    overdue_by_priority = dict(overdue.values_list("priority").annotate(n=Count("id")).order_by())
    if not overdue_by_priority:
        return 0
    # On RabbitMQ every priority shares one queue: its length is compared with all of them.
    priorities_by_queue = defaultdict(list)
    for priority in overdue_by_priority:
        priorities_by_queue[job_route(priority)["queue"]].append(priority)
    published = 0
    lengths = broker_queue_lengths()
    for queue, priorities in priorities_by_queue.items():
        in_broker = lengths.get(queue)
        if in_broker is None or in_broker >= sum(overdue_by_priority[p] for p in priorities):
            continue
        waiting = overdue.filter(priority__in=priorities).values_list("id", "attempts", "priority")
        for job_id, attempts, priority in list(waiting[:limit]):
            if job_publish(job_id, attempts + 1, priority):
                Job.objects.filter(id=job_id).update(dispatched_at=timezone.now())
                published += 1
    if published:
        logger.warning("Re-published %s jobs whose broker messages were lost.", published)
    return published


def jobs_reap_stalled(now: datetime | None = None, limit: int = 500) -> int:
    """Running jobs whose worker is gone become a new attempt, or fail with "worker lost" when
    their attempts are used up. Gone: no database heartbeat for JOBS_LOST_AFTER seconds and no
    worker vouching for the attempt (jobs.liveness); when Redis cannot tell, no heartbeat for
    JOBS_STALL_TIMEOUT seconds."""
    from .batches import job_batch_refresh

    now = now or timezone.now()
    quiet = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - timedelta(seconds=settings.JOBS_LOST_AFTER))
    # A batch parent is quiet by design while its children run: bring it up to date instead.
    stalled_parents = quiet.filter(heartbeat_at__lt=now - timedelta(seconds=settings.JOBS_STALL_TIMEOUT), children__isnull=False)
    for parent_id in list(stalled_parents.values_list("id", flat=True).distinct()[:limit]):
        job_batch_refresh(parent_id)
    candidates = list(quiet.filter(children__isnull=True).values_list("id", "attempts", "heartbeat_at")[:limit])
    if not candidates:
        return 0  # the usual case: no need to ask Redis
    vouched = liveness.attempts_vouched_for((job_id, attempt) for job_id, attempt, _ in candidates)
    stall_cutoff = now - timedelta(seconds=settings.JOBS_STALL_TIMEOUT)
    reaped = 0
    for job_id, attempt, heartbeat_at in candidates:
        if (job_id, attempt) in (vouched or ()) or (vouched is None and heartbeat_at >= stall_cutoff):
            continue
        reaped += _job_reap(job_id, attempt, now, heartbeat_at)
    if reaped:
        logger.warning("Reaped %s jobs whose worker was lost.", reaped)
    return reaped


def _job_reap(job_id: str, attempt: int, now: datetime, heartbeat_at: datetime) -> bool:
    quiet_for = (now - heartbeat_at).total_seconds()
    error = {
        "error_type": "jobs.errors.WorkerLost",
        "error_message": f"Worker lost: no sign of attempt {attempt} for {quiet_for:.0f} s.",
        "traceback": "",
    }
    retry = attempt < Job.objects.only("max_attempts").get(id=job_id).max_attempts
    # Fenced on the heartbeat read above: a beat since then means the attempt is alive after all.
    fenced = Job.objects.filter(id=job_id, attempts=attempt, heartbeat_at=heartbeat_at)
    if retry:
        return _attempt_taken_back(LOSE_AND_RETRY, fenced, job_id, attempt, JobAttempt.Outcome.LOST, error, now,
                                   next_retry_at=now, dispatched_at=None, heartbeat_at=None)
    return _attempt_taken_back(LOSE_AND_FAIL, fenced, job_id, attempt, JobAttempt.Outcome.LOST, error, now, completed_at=now)


def job_hand_back(job_id: str, attempt: int, claim_id) -> bool:
    """A stopping worker gives the attempt back before its grace period ends: the job becomes
    retrying and its next attempt is published at once, for another worker. An attempt handed
    back is not counted against max_attempts (a deploy must not use up a job's retries). The
    stopped handler's later writes are fenced out like any superseded attempt's. `claim_id`: the
    id of the message the worker ran (the claim's id), so that only its own claim is handed back."""
    now = timezone.now()
    error = {
        "error_type": "jobs.errors.WorkerStopped",
        "error_message": f"Attempt {attempt} was handed back: its worker stopped before it ended.",
        "traceback": "",
    }
    return _attempt_taken_back(
        HAND_BACK, Job.objects.filter(id=job_id, attempts=attempt, claim_id=as_claim_id(claim_id)), job_id, attempt,
        JobAttempt.Outcome.HANDED_BACK,
        error, now, max_attempts=F("max_attempts") + 1, next_retry_at=now, dispatched_at=None, heartbeat_at=None,
    )


def _attempt_taken_back(move, fenced, job_id: str, attempt: int, outcome: str, error: dict, now: datetime, **changes) -> bool:
    """An attempt no worker will finish (lost, or handed back): make `move` for the fenced job,
    close the attempt row with `outcome`, then publish the next attempt when the job is retrying,
    or end the job. False when the fence matched nothing."""
    with transaction.atomic():
        if not move_jobs(move, fenced, error_type=error["error_type"], error_message=error["error_message"], **changes):
            return False
        JobAttempt.objects.filter(job_id=job_id, number=attempt, finished_at__isnull=True).update(
            outcome=outcome, finished_at=now, **error
        )
        job = Job.objects.get(id=job_id)
        if move.target == JobStatus.RETRYING:
            events.job_changed(job)
            transaction.on_commit(partial(job_publish, job_id, attempt + 1, job.priority))
        else:
            hooks.job_ended(job)
    return True
