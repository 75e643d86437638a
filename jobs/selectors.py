"""Reads of job state, scoped to what the asking user may see."""
from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet, Sum

from common.pagination import CappedCountPaginator

from .authorization import sees_all_jobs
from .models import DEAD_LETTERS, QUEUE_FOR_PRIORITY, WAITING_STATUSES, DeadLetterTally, Job, JobStatus


def jobs_visible_to(user: Any) -> QuerySet[Job]:
    """A user sees their own jobs; operators with jobs.view_job see all. Anything else does not
    exist for them (404)."""
    jobs = Job.objects.all()
    return jobs if sees_all_jobs(user) else jobs.filter(owner=user)


def job_get_for_user(user: Any, job_id: str) -> Job:
    return jobs_visible_to(user).get(id=job_id)


def job_list(user: Any, *, status: str | None = None, type_name: str | None = None, before: str | None = None) -> QuerySet[Job]:
    jobs = jobs_visible_to(user)
    if before:
        jobs = jobs.filter(id__lt=before)  # ids sort by creation time
    if status:
        jobs = jobs.filter(status=status)
    if type_name:
        jobs = jobs.filter(type=type_name)
    return jobs.order_by("-id")


def broker_queue_lengths() -> dict[str, int | None]:
    """Messages waiting in each job queue, read from the broker (None when it cannot be read)."""
    from celery import current_app as app

    lengths: dict[str, int | None] = {}
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            for queue in QUEUE_FOR_PRIORITY.values():
                try:
                    lengths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # an AMQP queue not declared yet holds nothing
                    lengths[queue] = 0
                    channel = conn.channel()
    except Exception:
        return dict.fromkeys(QUEUE_FOR_PRIORITY.values())
    return lengths


def queue_stats() -> dict:
    """Broker queue lengths and jobs per state, read every few seconds by each open dashboard, so
    never a count of the history: the active states are counted through the status index,
    `failed` is the dead letters (their tally), and `completed` and
    `cancelled` are counted up to CappedCountPaginator.CAP (the totals are in /metrics)."""
    active = WAITING_STATUSES | {JobStatus.RUNNING}
    counts = dict.fromkeys(JobStatus.values, 0)
    counts.update(Job.objects.filter(status__in=active).values_list("status").annotate(n=Count("id")).order_by())
    counts[JobStatus.FAILED] = dead_letter_count()
    for status in (JobStatus.COMPLETED, JobStatus.CANCELLED):
        counts[status] = Job.objects.filter(status=status)[: CappedCountPaginator.CAP].count()
    return {"queues": broker_queue_lengths(), "jobs": counts}


# A reader that finds more rows than this in the tally folds them into one.
TALLY_FOLD_AT = 1000


def dead_letter_count() -> int:
    """How many dead letters there are. On PostgreSQL the sum of the tally its triggers keep
    (DeadLetterTally): a few rows, however many jobs ever failed. Elsewhere (SQLite, for small
    installs) they are counted."""
    if connection.vendor != "postgresql":
        return Job.objects.filter(DEAD_LETTERS).count()
    tally = DeadLetterTally.objects.aggregate(total=Sum("change", default=0), rows=Count("id"))
    if tally["rows"] > TALLY_FOLD_AT:
        dead_letter_tally_fold()
    return int(tally["total"])


def dead_letter_tally_fold() -> None:
    """Replace the tally's rows by one holding their sum, in one statement: rows added meanwhile
    stay, and of two readers folding at once the second finds the rows gone and adds nothing."""
    table = connection.ops.quote_name(DeadLetterTally._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {table} RETURNING change) "
            f"INSERT INTO {table} (change) SELECT sum(change) FROM gone HAVING count(*) > 0"
        )
