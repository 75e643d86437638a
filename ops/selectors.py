"""Operational figures, read from the database (and the broker) when asked: the same numbers for
/metrics, the admin dashboard and the alert rules, whichever process asks."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from common.stats import percentile
from jobs.models import QUEUE_FOR_PRIORITY, Job, JobAttempt, JobStatus, waiting_for_worker
from notifications.models import WebhookAttempt, WebhookDelivery

# Histogram buckets, seconds.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def queue_of(priority: str) -> str:
    return QUEUE_FOR_PRIORITY.get(priority, priority)


def backlog_count(now: datetime) -> int:
    return Job.objects.filter(waiting_for_worker(now)).count()


def waiting_counts(now: datetime) -> dict[tuple[str, str], int]:
    """Jobs waiting for a worker, by (type, queue)."""
    rows = Job.objects.filter(waiting_for_worker(now)).values_list("type", "priority").annotate(n=Count("id")).order_by()
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for type_, priority, n in rows:
        counts[(type_, queue_of(priority))] += n
    return dict(counts)


def failure_counts(since: datetime) -> tuple[int, int]:
    """(failed, finished) among jobs that completed or failed since `since`."""
    finished = Job.objects.filter(completed_at__gte=since, status__in=(JobStatus.COMPLETED, JobStatus.FAILED))
    totals = finished.aggregate(failed=Count("id", filter=Q(status=JobStatus.FAILED)), finished=Count("id"))
    return totals["failed"], totals["finished"]


def _due(prefix: str = ""):
    """When a job became due: its creation, or its run_at when that is later."""
    created = F(f"{prefix}created_at")
    return Greatest(created, Coalesce(F(f"{prefix}run_at"), created))


def _wait(prefix: str = ""):
    return ExpressionWrapper(F("started_at") - _due(prefix), output_field=DurationField())


def average_wait_seconds(now: datetime, since: datetime) -> tuple[float, int]:
    """Average wait of jobs whose first attempt started since `since`, and of the due jobs still
    waiting for their first attempt (counted until now); with how many jobs that covers."""
    started = JobAttempt.objects.filter(number=1, started_at__gte=since).annotate(wait=_wait("job__"))
    done = started.aggregate(total=Sum("wait"), n=Count("id"))
    queued = Job.objects.filter(attempts=0).filter(waiting_for_worker(now)).annotate(
        wait=ExpressionWrapper(now - _due(), output_field=DurationField())
    )
    still = queued.aggregate(total=Sum("wait"), n=Count("id"))
    count = done["n"] + still["n"]
    total = sum(((value or timedelta()).total_seconds() for value in (done["total"], still["total"])), 0.0)
    return (total / count if count else 0.0), count


def job_counts() -> dict[tuple[str, str, str], int]:
    """Jobs by (type, queue, status)."""
    rows = Job.objects.values_list("type", "priority", "status").annotate(n=Count("id")).order_by()
    return {(type_, queue_of(priority), status): n for type_, priority, status, n in rows}


def dead_letter_count() -> int:
    return Job.objects.filter(status=JobStatus.FAILED, discarded_at__isnull=True).count()


def retry_counts() -> dict[tuple[str, str], int]:
    """Attempts after the first (retries, and replays), by (type, queue)."""
    rows = JobAttempt.objects.filter(number__gt=1).values_list("job__type", "job__priority").annotate(n=Count("id")).order_by()
    return {(type_, queue_of(priority)): n for type_, priority, n in rows}


def _histograms(rows, value_name: str) -> dict[tuple[str, str], tuple[list[int], float]]:
    """{(type, queue): (cumulative bucket counts incl. +Inf, sum in seconds)} from rows that carry
    one count per bucket (b0..bN, inf) and a sum."""
    result = {}
    for row in rows:
        counts = [row[f"b{i}"] for i in range(len(BUCKETS))] + [row["inf"]]
        total = row[value_name]
        seconds = total.total_seconds() if isinstance(total, timedelta) else (total or 0) / 1000
        result[(row["job__type"], queue_of(row["job__priority"]))] = (counts, seconds)
    return result


def processing_histograms() -> dict[tuple[str, str], tuple[list[int], float]]:
    """Duration of every finished attempt, by job type and queue."""
    buckets = {f"b{i}": Count("id", filter=Q(duration_ms__lte=int(b * 1000))) for i, b in enumerate(BUCKETS)}
    rows = (
        JobAttempt.objects.filter(duration_ms__isnull=False)
        .values("job__type", "job__priority")
        .annotate(**buckets, inf=Count("id"), total_ms=Sum("duration_ms"))
        .order_by()
    )
    return _histograms(rows, "total_ms")


def waiting_histograms() -> dict[tuple[str, str], tuple[list[int], float]]:
    """Time from becoming due to the start of the first attempt, by job type and queue."""
    buckets = {f"b{i}": Count("id", filter=Q(wait__lte=timedelta(seconds=b))) for i, b in enumerate(BUCKETS)}
    rows = (
        JobAttempt.objects.filter(number=1)
        .annotate(wait=_wait("job__"))
        .values("job__type", "job__priority")
        .annotate(**buckets, inf=Count("id"), total_wait=Sum("wait"))
        .order_by()
    )
    return _histograms(rows, "total_wait")


def webhook_delivery_counts() -> dict[str, int]:
    rows = WebhookDelivery.objects.values_list("status").annotate(n=Count("id")).order_by()
    return {status: n for status, n in rows}


def webhook_attempt_outcomes() -> dict[str, int]:
    """Webhook tries by outcome: 2xx, 3xx, 4xx, 5xx, or error (no answer)."""
    outcomes: dict[str, int] = defaultdict(int)
    for code, n in WebhookAttempt.objects.filter(duration_ms__isnull=False).values_list("status_code").annotate(n=Count("id")).order_by():
        outcomes[f"{code // 100}xx" if code else "error"] += n
    return dict(outcomes)


def type_summary(since: datetime) -> list[dict]:
    """Per job type since `since`: finished, completed, failed, success rate and p95 processing
    time of completed attempts (nearest rank)."""
    finished = (
        Job.objects.filter(completed_at__gte=since, status__in=(JobStatus.COMPLETED, JobStatus.FAILED))
        .values_list("type")
        .annotate(completed=Count("id", filter=Q(status=JobStatus.COMPLETED)), failed=Count("id", filter=Q(status=JobStatus.FAILED)))
        .order_by("type")
    )
    durations: dict[str, list[int]] = defaultdict(list)
    attempts = JobAttempt.objects.filter(finished_at__gte=since, outcome=JobAttempt.Outcome.COMPLETED, duration_ms__isnull=False)
    for type_, ms in attempts.values_list("job__type", "duration_ms").order_by("duration_ms"):
        durations[type_].append(ms)
    summary = []
    for type_, completed, failed in finished:
        p95 = percentile(durations.get(type_, []), 0.95)
        summary.append({
            "type": type_,
            "finished": completed + failed,
            "completed": completed,
            "failed": failed,
            "success_rate": completed / (completed + failed) if completed + failed else None,
            "p95_seconds": p95 / 1000 if p95 is not None else None,
        })
    return summary


def operations_overview(now: datetime | None = None) -> dict:
    """What the admin's operations dashboard shows (and refreshes as JSON)."""
    from jobs.selectors import broker_queue_lengths

    from .models import Alert

    now = now or timezone.now()
    by_status: dict[str, int] = defaultdict(int)
    for (_, _, status), n in job_counts().items():
        by_status[status] += n
    wait, _ = average_wait_seconds(now, now - timedelta(minutes=15))
    return {
        "at": now.isoformat(),
        "queues": broker_queue_lengths(),
        "jobs": {status: by_status.get(status, 0) for status in JobStatus.values},
        "backlog": backlog_count(now),
        "dead_letters": dead_letter_count(),
        "average_wait_seconds_15m": round(wait, 3),
        "webhook_deliveries": webhook_delivery_counts(),
        "webhook_attempts": webhook_attempt_outcomes(),
        "last_hour": type_summary(now - timedelta(hours=1)),
        "last_day": type_summary(now - timedelta(days=1)),
        "alerts": [
            {"rule": a.rule, "message": a.message, "value": a.value, "threshold": a.threshold, "raised_at": a.raised_at.isoformat()}
            for a in Alert.objects.filter(cleared_at__isnull=True)
        ],
    }
