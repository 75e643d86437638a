"""Counters and histograms that do not grow with the history.

Every figure is a count of events, each with a time: a job created (enqueued), finished (completed,
failed, cancelled), an attempt after the first started (retries), an attempt finished (processing
seconds), a first attempt started (waiting seconds), a webhook try made, a webhook delivery ended.
Once a minute has settled (SETTLE after its end: every transaction that stamped a time in it has
committed), its events are folded, once, into MetricTotal (summed over all time) and MetricMinute
(that minute, kept a day). A reader adds the totals to the events of the few unfolded minutes, read
from the tables through their time indexes: exact figures, at a cost that does not depend on how
many jobs ever ran. The cleanup deletes jobs, never totals, so a counter only grows.

Whoever reads folds first when a minute is due (the alert rules every minute, /metrics at each
scrape); one process folds at a time (the others skip it), and a read holds the fold's row so that
the totals and the unfolded minutes it adds are of one moment.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, Count, DateTimeField, DurationField, ExpressionWrapper, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, Greatest, TruncMinute
from django.utils import timezone

from jobs.models import QUEUE_FOR_PRIORITY, TERMINAL_STATUSES, Job, JobAttempt
from notifications.models import WebhookAttempt, WebhookDelivery

from .models import MetricMinute, MetricsFolded, MetricTotal

# Histogram buckets, seconds.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
BUCKET_LABELS = tuple(str(b) for b in BUCKETS) + ("+Inf",)
# Longer than any transaction that stamps an event time takes to commit (a webhook try, the
# longest, is bounded by WEBHOOK_TIMEOUT).
SETTLE = timedelta(minutes=2)
KEEP_MINUTES = timedelta(days=1, hours=1)


@dataclass(frozen=True)
class Key:
    name: str
    type: str = ""
    queue: str = ""
    label: str = ""


Figures = dict[Key, list]  # Key -> [count, seconds]


def queue_of(priority: str) -> str:
    return QUEUE_FOR_PRIORITY.get(priority, priority)


def _bucket(field: str, as_duration: bool = False) -> Case:
    """The index in BUCKETS of the first bucket a value falls in (len(BUCKETS) for +Inf)."""
    bound = (lambda b: timedelta(seconds=b)) if as_duration else (lambda b: int(b * 1000))
    return Case(*(When(**{f"{field}__lte": bound(b)}, then=Value(i)) for i, b in enumerate(BUCKETS)),
                default=Value(len(BUCKETS)), output_field=IntegerField())


def due(prefix: str = ""):
    """When a job became due: its creation, or its run_at when that is later."""
    created = F(f"{prefix}created_at")
    return Greatest(created, Coalesce(F(f"{prefix}run_at"), created))


def _seconds(value) -> float:
    if value is None:
        return 0.0
    return value.total_seconds() if isinstance(value, timedelta) else value / 1_000_000  # SQLite: microseconds


def _window(field: str, start: datetime | None, end: datetime | None) -> Q:
    window = Q(**{f"{field}__isnull": False})
    if start:
        window &= Q(**{f"{field}__gte": start})
    if end:
        window &= Q(**{f"{field}__lt": end})
    return window


def events(start: datetime | None, end: datetime | None, by_minute: bool) -> dict[datetime | None, Figures]:
    """The events stamped in [start, end) (None: no bound), by minute or all under None, as
    {minute: {Key: [count, seconds]}}."""
    found: dict[datetime | None, Figures] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))

    def rows(queryset, time_field: str, *fields: str, **aggregates) -> Iterable[dict]:
        queryset = queryset.filter(_window(time_field, start, end))
        if by_minute:
            queryset = queryset.annotate(minute=TruncMinute(time_field, output_field=DateTimeField()))
            fields = ("minute", *fields)
        return queryset.values(*fields).annotate(n=Count("pk"), **aggregates).order_by()

    def add(row: dict, key: Key, seconds: float = 0.0) -> None:
        figures = found[row.get("minute")]
        figures[key][0] += row["n"]
        figures[key][1] += seconds

    for row in rows(Job.objects.all(), "created_at", "type", "priority"):
        add(row, Key("enqueued", row["type"], queue_of(row["priority"])))
    for row in rows(Job.objects.filter(status__in=TERMINAL_STATUSES), "completed_at", "type", "priority", "status"):
        add(row, Key(row["status"], row["type"], queue_of(row["priority"])))
    for row in rows(JobAttempt.objects.filter(number__gt=1), "started_at", "job__type", "job__priority"):
        add(row, Key("retries", row["job__type"], queue_of(row["job__priority"])))
    processing = JobAttempt.objects.filter(duration_ms__isnull=False).annotate(bucket=_bucket("duration_ms"))
    for row in rows(processing, "finished_at", "job__type", "job__priority", "bucket", ms=Sum("duration_ms")):
        add(row, Key("processing", row["job__type"], queue_of(row["job__priority"]), BUCKET_LABELS[row["bucket"]]),
            (row["ms"] or 0) / 1000)
    waits = JobAttempt.objects.filter(number=1).annotate(
        wait=ExpressionWrapper(F("started_at") - due("job__"), output_field=DurationField())
    ).annotate(bucket=_bucket("wait", as_duration=True))
    for row in rows(waits, "started_at", "job__type", "job__priority", "bucket", total=Sum("wait")):
        add(row, Key("waiting", row["job__type"], queue_of(row["job__priority"]), BUCKET_LABELS[row["bucket"]]),
            _seconds(row["total"]))
    for row in rows(WebhookAttempt.objects.filter(duration_ms__isnull=False), "started_at", "status_code"):
        code = row["status_code"]
        add(row, Key("webhook_tries", label=f"{code // 100}xx" if code else "error"))
    ended = WebhookDelivery.objects.filter(status__in=(WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED))
    for row in rows(ended, "finished_at", "status"):
        add(row, Key("webhook_deliveries", label=row["status"]))
    return found


def settled(now: datetime) -> datetime:
    """The end of the last settled minute."""
    return (now - SETTLE).replace(second=0, microsecond=0)


def fold(now: datetime | None = None) -> bool:
    """Fold the settled minutes not folded yet; False when another process is folding or nothing
    was due. The first fold reads the history once, as one period."""
    now = now or timezone.now()
    through = settled(now)
    with transaction.atomic():
        MetricsFolded.objects.get_or_create(pk=1)
        state = MetricsFolded.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if state is None or (state.through and state.through >= through):
            return False
        found = events(state.through, through, by_minute=state.through is not None)
        _add_to_totals(found)
        MetricMinute.objects.bulk_create(
            MetricMinute(minute=minute, name=key.name, type=key.type, queue=key.queue, label=key.label,
                         count=count, seconds=seconds)
            for minute, figures in found.items() if minute is not None
            for key, (count, seconds) in figures.items()
        )
        MetricMinute.objects.filter(minute__lt=now - KEEP_MINUTES).delete()
        state.through = through
        state.save(update_fields=["through"])
    return True


def _add_to_totals(found: dict[datetime | None, Figures]) -> None:
    new: Figures = defaultdict(lambda: [0, 0.0])
    for figures in found.values():
        _merge(new, figures)
    existing = {Key(t.name, t.type, t.queue, t.label): t for t in MetricTotal.objects.all()}
    for key, (count, seconds) in new.items():
        total = existing.setdefault(key, MetricTotal(name=key.name, type=key.type, queue=key.queue, label=key.label))
        total.count += count
        total.seconds += seconds
    MetricTotal.objects.bulk_update([existing[key] for key in new if existing[key].pk], ["count", "seconds"])
    MetricTotal.objects.bulk_create([existing[key] for key in new if not existing[key].pk])


def _merge(into: Figures, figures: Figures) -> Figures:
    for key, (count, seconds) in figures.items():
        into[key][0] += count
        into[key][1] += seconds
    return into


def _unfolded(start: datetime | None, into: Figures) -> Figures:
    for figures in events(start, None, by_minute=False).values():
        _merge(into, figures)
    return into


@contextmanager
def _folded_through(now: datetime):
    """Fold what is due, then hold the fold's row while the caller reads: the totals and where they
    end come from one moment, so a fold committing in between cannot count a minute twice or
    not at all (which Prometheus would see as a counter going down)."""
    fold(now)
    with transaction.atomic():
        yield MetricsFolded.objects.select_for_update(no_key=True).values_list("through", flat=True).first()


def totals(now: datetime | None = None) -> Figures:
    """Every counter and bucket over all time: the folded totals plus the unfolded minutes."""
    result: Figures = defaultdict(lambda: [0, 0.0])
    with _folded_through(now or timezone.now()) as through:
        for t in MetricTotal.objects.all():
            result[Key(t.name, t.type, t.queue, t.label)] = [t.count, t.seconds]
        return _unfolded(through, result)


def since(starts: list[datetime], now: datetime | None = None) -> list[Figures]:
    """For each start (to the minute; at most a day back), the counters and buckets of events from
    it: the kept minutes read once and the unfolded tail counted once, for every window."""
    results: list[Figures] = [defaultdict(lambda: [0, 0.0]) for _ in starts]
    with _folded_through(now or timezone.now()) as through:
        through = through or min(starts)
        for m in MetricMinute.objects.filter(minute__gte=min(starts), minute__lt=through):
            for start, result in zip(starts, results):
                if m.minute >= start:
                    figures = result[Key(m.name, m.type, m.queue, m.label)]
                    figures[0] += m.count
                    figures[1] += m.seconds
        tail = _unfolded(through, defaultdict(lambda: [0, 0.0]))
        for start, result in zip(starts, results):
            if start <= through:
                _merge(result, tail)
            else:
                _unfolded(start, result)
    return results
