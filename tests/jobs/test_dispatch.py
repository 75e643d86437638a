"""Priorities under load and lost messages, with messages waiting in the real broker."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from jobs.engine import actions, dispatch, submission
from jobs.models import Job, JobStatus
from jobs.selectors import broker_queue_lengths

from ..conftest import wait_for_job
from ..support import purge_queues, wait_for


@pytest.fixture
def user(user):
    """Alice may jump the queue: the priority tests here submit high jobs as her."""
    user.user_permissions.add(Permission.objects.get(content_type__app_label="jobs", codename="submit_high_priority"))
    return user


def enqueue_backlog(user, count: int, seconds: float) -> list[str]:
    return [submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": seconds}).id
            for _ in range(count)]


@pytest.mark.worker
def test_a_high_job_overtakes_a_normal_backlog(worker, user):
    backlog = Job.objects.filter(id__in=enqueue_backlog(user, 500, 0.05))
    high = submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0}, priority="high")

    high = wait_for_job(high.id, timeout=60)
    waiting_behind = backlog.filter(started_at__gt=high.started_at).count() + backlog.filter(started_at=None).count()
    wait_ms = (high.started_at - high.created_at).total_seconds() * 1000
    print(f"\nhigh job started {wait_ms:.0f} ms after enqueue, ahead of {waiting_behind} waiting normal jobs")
    assert waiting_behind >= 100, "the high job started before the normal backlog drained"
    wait_for(lambda: backlog.filter(status=JobStatus.COMPLETED).count() == 500, timeout=90, message="the backlog")


@contextmanager
def worker_held_busy(worker, user):
    """Every worker process holds a long job until the block ends, so that what is published
    meanwhile waits in the broker."""
    blockers = [submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 60, "steps": 600})
                for _ in range(worker.concurrency)]
    running = Job.objects.filter(id__in=[blocker.id for blocker in blockers], status=JobStatus.RUNNING)
    wait_for(lambda: running.count() == worker.concurrency, timeout=30, message="the worker to be busy")
    try:
        yield
    finally:
        for blocker in running:
            actions.job_cancel(blocker, actor=user)  # its handler stops at its next progress() call


@pytest.mark.worker
def test_a_busy_worker_takes_high_then_normal_then_low_whatever_their_arrival(worker, user):
    with worker_held_busy(worker, user):
        # A low job first, a normal backlog, a high job last: the reverse of their priorities.
        low = submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0}, priority="low")
        backlog = Job.objects.filter(id__in=enqueue_backlog(user, 40, 0))
        high = submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0}, priority="high")

    # The high job starts first and the low one last, give or take the one message each worker
    # process holds (prefetch 1).
    high, low = wait_for_job(high.id), wait_for_job(low.id, timeout=120)
    assert high.status == low.status == JobStatus.COMPLETED
    assert backlog.filter(started_at__lt=high.started_at).count() <= worker.concurrency
    assert backlog.filter(started_at__gt=low.started_at).count() <= worker.concurrency
    wait_for(lambda: backlog.filter(status=JobStatus.COMPLETED).count() == 40, timeout=60, message="the backlog")


@pytest.mark.worker
def test_the_dispatcher_publishes_again_only_messages_the_broker_lost(worker, user, settings):
    overdue = timezone.now() + timedelta(seconds=settings.JOBS_REDISPATCH_SECONDS + 1)
    with worker_held_busy(worker, user):
        jobs = [submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0}, priority=priority)
                for priority in ("high", "high", "normal", "low")]
        wait_for(lambda: sum(broker_queue_lengths().values()) == 4, timeout=10, message="4 messages in the broker")

        assert dispatch.jobs_redispatch_lost_messages(overdue) == 0, "every message is still in the broker"
        purge_queues()  # the broker loses them
        assert dispatch.jobs_redispatch_lost_messages(overdue) == 4

    for job in jobs:
        job = wait_for_job(job.id)
        assert job.status == JobStatus.COMPLETED and job.attempts == 1
