"""The metrics' rollups: every event counted once, whether it is read folded or not, and counters
that never go down."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs.models import Job, JobAttempt, JobStatus
from ops import rollups, selectors
from ops.models import MetricMinute, MetricsFolded, MetricTotal
from ops.rollups import Key
from schedules.services import jobs_cleanup

SLEEP = ("diagnostics.sleep", "default")


def finished_job(owner, at, status=JobStatus.COMPLETED, duration_ms=200, waited=timedelta(seconds=2), number=1):
    """A job that became due `waited` before its attempt started and finished at `at`."""
    started = at - timedelta(milliseconds=duration_ms)
    job = Job.objects.create(owner=owner, type="diagnostics.sleep", status=status, attempts=number)
    Job.objects.filter(id=job.id).update(created_at=started - waited, completed_at=at)
    JobAttempt.objects.create(job=job, number=number, started_at=started, finished_at=at, duration_ms=duration_ms,
                              outcome=status)
    job.refresh_from_db()
    return job


def counter(figures, name, labels=SLEEP):
    return selectors.counters(figures, name).get(labels, 0)


@pytest.mark.django_db
def test_events_are_counted_once_folded_or_not_and_never_go_down(user):
    now = timezone.now()
    for _ in range(3):
        finished_job(user, now - timedelta(days=40))
    finished_job(user, now - timedelta(minutes=10), status=JobStatus.FAILED)
    recent = finished_job(user, now - timedelta(seconds=5))

    figures = rollups.totals(now)  # the first read folds the history up to the settled minute
    assert MetricsFolded.objects.get().through == rollups.settled(now)
    assert (counter(figures, "enqueued"), counter(figures, "completed"), counter(figures, "failed")) == (5, 4, 1)
    assert MetricTotal.objects.get(name="completed").count == 3, "the recent job is not folded yet"

    later = now + timedelta(minutes=5)
    assert rollups.fold(later) is True
    assert rollups.fold(later) is False, "nothing left to fold"
    figures = rollups.totals(later)
    assert (counter(figures, "enqueued"), counter(figures, "completed"), counter(figures, "failed")) == (5, 4, 1)
    assert MetricMinute.objects.filter(name="completed", minute=recent.completed_at.replace(second=0, microsecond=0)).get().count == 1

    result = jobs_cleanup(retention_days=30, now=later)
    assert result["removed_jobs"] == 3
    figures = rollups.totals(later)
    assert counter(figures, "completed") == 4, "the cleanup does not lower a counter"


@pytest.mark.django_db
def test_histograms_put_each_attempt_in_its_bucket(user):
    now = timezone.now()
    finished_job(user, now - timedelta(minutes=30), duration_ms=200, waited=timedelta(seconds=3))
    finished_job(user, now, duration_ms=40, waited=timedelta(milliseconds=10))
    figures = rollups.totals(now)

    counts, seconds = selectors.histograms(figures, "processing")[SLEEP]
    labels = rollups.BUCKET_LABELS
    assert counts[labels.index("0.05")] == 1 and counts[labels.index("0.1")] == 1
    assert counts[labels.index("0.25")] == 2 and counts[-1] == 2, "cumulative, up to +Inf"
    assert seconds == pytest.approx(0.24)
    counts, seconds = selectors.histograms(figures, "waiting")[SLEEP]
    assert counts[labels.index("0.05")] == 1 and counts[labels.index("2.5")] == 1 and counts[labels.index("5.0")] == 2
    assert seconds == pytest.approx(3.01, abs=0.01)


@pytest.mark.django_db
def test_the_last_hour_comes_from_the_minutes(user):
    now = timezone.now()
    rollups.fold(now - timedelta(hours=3))  # folding was up to date before these jobs
    for minutes in (50, 20):
        finished_job(user, now - timedelta(minutes=minutes), duration_ms=700)
    finished_job(user, now - timedelta(minutes=30), status=JobStatus.FAILED, duration_ms=3000)
    finished_job(user, now - timedelta(hours=2))  # before the hour

    [summary] = selectors.type_summary(now - timedelta(hours=1), now)
    assert summary == {"type": "diagnostics.sleep", "finished": 3, "completed": 2, "failed": 1,
                       "success_rate": pytest.approx(2 / 3), "p95_seconds": 5.0}
    assert MetricMinute.objects.filter(name="completed").count() == 3


def test_a_histograms_percentile_is_its_buckets_upper_bound():
    counts = [0] * len(rollups.BUCKET_LABELS)
    assert selectors.bucket_percentile(counts, 0.95) is None
    counts[rollups.BUCKET_LABELS.index("0.5")] = 95
    counts[rollups.BUCKET_LABELS.index("10.0")] = 5
    assert selectors.bucket_percentile(counts, 0.95) == 0.5
    assert selectors.bucket_percentile(counts, 0.96) == 10.0
    counts[-1] = 100
    assert selectors.bucket_percentile(counts, 0.99) is None, "past the last bound"


@pytest.mark.django_db(transaction=True)
def test_two_processes_folding_at_once_count_each_event_once(user):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writers anyway")
    now = timezone.now()
    for _ in range(20):
        finished_job(user, now - timedelta(minutes=10))
    start = threading.Barrier(4)

    def fold():
        start.wait()
        try:
            rollups.fold(now)
        finally:
            connection.close()

    threads = [threading.Thread(target=fold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert MetricTotal.objects.get(name="completed").count == 20
    assert counter(rollups.totals(now), "completed") == 20
    assert rollups.totals(now)[Key("enqueued", *SLEEP)][0] == 20


@pytest.mark.django_db
def test_the_fold_command_folds_the_history_once(user):
    from io import StringIO

    from django.core.management import call_command

    finished_job(user, timezone.now() - timedelta(days=3))
    out = StringIO()
    call_command("metrics_fold", stdout=out)
    assert out.getvalue().startswith("Folded through ")
    assert MetricTotal.objects.get(name="completed").count == 1
    call_command("metrics_fold", stdout=out)
    assert "Nothing due" in out.getvalue()
    assert MetricTotal.objects.get(name="completed").count == 1
