"""Operational figures, read from the database (and the broker) when asked: the same numbers for
/metrics, the admin dashboard and the alert rules, whichever process asks. Counters and histograms
come from the rollups (ops/rollups.py); gauges count the few active rows through their indexes;
windows (the alert rules' last minutes) read the tables through their time indexes. None of them
reads the whole history."""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from jobs.models import TERMINAL_STATUSES, WAITING_STATUSES, Job, JobAttempt, JobStatus, waiting_for_worker
from notifications.models import WebhookDelivery

from . import rollups
from .rollups import BUCKET_LABELS, Figures, Key, queue_of

IN_FLIGHT_DELIVERIES = (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING)


def backlog_count(now: datetime) -> int:
    return Job.objects.filter(waiting_for_worker(now)).count()


def waiting_counts(now: datetime) -> dict[tuple[str, str], int]:
    """Jobs waiting for a worker, by (type, queue)."""
    return _by_type_and_queue(Job.objects.filter(waiting_for_worker(now)))


def running_counts() -> dict[tuple[str, str], int]:
    """Jobs a worker is running now, by (type, queue)."""
    return _by_type_and_queue(Job.objects.filter(status=JobStatus.RUNNING))


def _by_type_and_queue(jobs) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for type_, priority, n in jobs.values_list("type", "priority").annotate(n=Count("id")).order_by():
        counts[(type_, queue_of(priority))] += n
    return dict(counts)


def active_status_counts() -> dict[str, int]:
    """Jobs in each status that is not final (the few rows the status index finds)."""
    rows = Job.objects.filter(status__in=WAITING_STATUSES | {JobStatus.RUNNING}).values_list("status").annotate(n=Count("id")).order_by()
    return dict(rows)


def failure_counts(since: datetime) -> tuple[int, int]:
    """(failed, finished) among jobs that completed or failed since `since`."""
    finished = Job.objects.filter(completed_at__gte=since, status__in=(JobStatus.COMPLETED, JobStatus.FAILED))
    totals = finished.aggregate(failed=Count("id", filter=Q(status=JobStatus.FAILED)), finished=Count("id"))
    return totals["failed"], totals["finished"]


def average_wait_seconds(now: datetime, since: datetime) -> tuple[float, int]:
    """Average wait of jobs whose first attempt started since `since`, and of the due jobs still
    waiting for their first attempt (counted until now); with how many jobs that covers."""
    started = JobAttempt.objects.filter(number=1, started_at__gte=since).annotate(
        wait=ExpressionWrapper(F("started_at") - rollups.due("job__"), output_field=DurationField())
    )
    done = started.aggregate(total=Sum("wait"), n=Count("id"))
    queued = Job.objects.filter(attempts=0).filter(waiting_for_worker(now)).annotate(
        wait=ExpressionWrapper(now - rollups.due(), output_field=DurationField())
    )
    still = queued.aggregate(total=Sum("wait"), n=Count("id"))
    count = done["n"] + still["n"]
    total = sum(((value or timedelta()).total_seconds() for value in (done["total"], still["total"])), 0.0)
    return (total / count if count else 0.0), count


def counters(figures: Figures, name: str) -> dict[tuple[str, str], int]:
    """One counter by (type, queue)."""
    return {(key.type, key.queue): count for key, (count, _) in figures.items() if key.name == name}


def histograms(figures: Figures, name: str) -> dict[tuple[str, str], tuple[list[int], float]]:
    """{(type, queue): (cumulative bucket counts incl. +Inf, sum in seconds)}."""
    per_bucket: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKET_LABELS))
    sums: dict[tuple[str, str], float] = defaultdict(float)
    for key, (count, seconds) in figures.items():
        if key.name == name:
            per_bucket[(key.type, key.queue)][BUCKET_LABELS.index(key.label)] += count
            sums[(key.type, key.queue)] += seconds
    result = {}
    for labels, counts in per_bucket.items():
        cumulative, running = [], 0
        for count in counts:
            running += count
            cumulative.append(running)
        result[labels] = (cumulative, sums[labels])
    return result


def webhook_delivery_counts(figures: Figures) -> dict[str, int]:
    """Deliveries in flight (counted now) and ended (counted as they end)."""
    rows = WebhookDelivery.objects.filter(status__in=IN_FLIGHT_DELIVERIES).values_list("status").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(WebhookDelivery.Status.values, 0) | dict(rows)
    for key, (count, _) in figures.items():
        if key.name == "webhook_deliveries":
            counts[key.label] += count
    return counts


def webhook_attempt_outcomes(figures: Figures) -> dict[str, int]:
    """Webhook tries by outcome: 2xx, 3xx, 4xx, 5xx, or error (no answer)."""
    return {key.label: count for key, (count, _) in figures.items() if key.name == "webhook_tries"}


def bucket_percentile(counts: list[int], fraction: float) -> float | None:
    """The nearest-rank percentile of a histogram, as the upper bound of the bucket it falls in
    (None when there is no value, or it is past the last bound)."""
    rank = math.ceil(fraction * sum(counts))
    seen = 0
    for bound, count in zip((*rollups.BUCKETS, None), counts):
        seen += count
        if rank and seen >= rank:
            return bound
    return None


def type_summary(start: datetime, now: datetime) -> list[dict]:
    return type_summaries([start], now)[0]


def type_summaries(starts: list[datetime], now: datetime) -> list[list[dict]]:
    """Per job type since each start (at most a day back): finished, completed, failed, success
    rate, and the p95 processing time of its finished attempts (the upper bound of the bucket it
    falls in)."""
    return [_type_summary(figures) for figures in rollups.since(starts, now)]


def _type_summary(figures: Figures) -> list[dict]:
    by_type: dict[str, dict] = defaultdict(lambda: {"completed": 0, "failed": 0, "durations": [0] * len(BUCKET_LABELS)})
    for key, (count, _) in figures.items():
        if key.name in ("completed", "failed"):
            by_type[key.type][key.name] += count
        elif key.name == "processing":
            by_type[key.type]["durations"][BUCKET_LABELS.index(key.label)] += count
    summary = []
    for type_, found in sorted(by_type.items()):
        completed, failed = found["completed"], found["failed"]
        if not completed + failed:
            continue
        p95 = bucket_percentile(found["durations"], 0.95)
        summary.append({
            "type": type_,
            "finished": completed + failed,
            "completed": completed,
            "failed": failed,
            "success_rate": completed / (completed + failed),
            "p95_seconds": p95,
        })
    return summary


def operations_overview(now: datetime | None = None) -> dict:
    """What the admin's operations dashboard shows (and refreshes as JSON)."""
    from jobs.selectors import broker_queue_lengths, dead_letter_count

    from .models import Alert

    now = now or timezone.now()
    figures = rollups.totals(now)
    jobs = dict.fromkeys(JobStatus.values, 0) | active_status_counts()
    for key, (count, _) in figures.items():
        if key.name in TERMINAL_STATUSES:
            jobs[key.name] += count
    wait, _ = average_wait_seconds(now, now - timedelta(minutes=15))
    last_hour, last_day = type_summaries([now - timedelta(hours=1), now - timedelta(days=1)], now)
    return {
        "at": now.isoformat(),
        "queues": broker_queue_lengths(),
        "jobs": jobs,
        "backlog": backlog_count(now),
        "dead_letters": dead_letter_count(),
        "average_wait_seconds_15m": round(wait, 3),
        "webhook_deliveries": webhook_delivery_counts(figures),
        "webhook_attempts": webhook_attempt_outcomes(figures),
        "last_hour": last_hour,
        "last_day": last_day,
        "alerts": [
            {"rule": a.rule, "message": a.message, "value": a.value, "threshold": a.threshold, "raised_at": a.raised_at.isoformat()}
            for a in Alert.objects.filter(cleared_at__isnull=True)
        ],
    }
