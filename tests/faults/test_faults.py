"""Faults with real processes: every job accepted with 202 ends terminal, no side effect twice."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.utils import timezone

from diagnostics.models import DiagnosticsEffect
from jobs.models import Job, JobAttempt, JobStatus

from ..support import wait_for

pytestmark = pytest.mark.worker


def all_completed(job_ids, timeout: float) -> None:
    def done():
        return Job.objects.filter(id__in=job_ids, status=JobStatus.COMPLETED).count() == len(job_ids)

    wait_for(done, timeout=timeout, interval=0.2, message=f"{len(job_ids)} jobs to complete")


def assert_exactly_once(job_ids) -> None:
    assert Job.objects.filter(id__in=job_ids).exclude(status=JobStatus.COMPLETED).count() == 0
    assert DiagnosticsEffect.objects.filter(job_id__in=job_ids).count() == len(job_ids)
    completed_attempts = JobAttempt.objects.filter(job_id__in=job_ids, outcome="completed").count()
    assert completed_attempts == len(job_ids), "one completed attempt per job"


def test_killed_worker_mid_job_is_retried_as_a_new_attempt(stack):
    first = stack.start_worker()
    job_id = stack.submit(seconds=4, steps=8, record_effect=True)
    wait_for(lambda: Job.objects.filter(id=job_id, status=JobStatus.RUNNING, progress__gte=25).exists(), timeout=20)

    first.kill()  # SIGKILL: no warm shutdown, no ack
    stack.start_worker()

    all_completed([job_id], timeout=40)
    job = Job.objects.get(id=job_id)
    assert job.attempts == 2
    attempts = dict(JobAttempt.objects.filter(job=job).values_list("number", "outcome"))
    assert attempts == {1: "lost", 2: "completed"}
    assert_exactly_once([job_id])


def test_redis_restart_with_200_jobs_queued_loses_none(stack):
    session = requests.Session()
    job_ids = [stack.submit(session, seconds=0, record_effect=True) for _ in range(200)]
    assert Job.objects.filter(id__in=job_ids, dispatched_at__isnull=False).count() == 200

    stack.redis.stop()  # memory only: the 200 queued messages are gone
    stack.redis.start()
    restarted = timezone.now()
    stack.start_worker()

    all_completed(job_ids, timeout=90)
    assert_exactly_once(job_ids)
    republished = Job.objects.filter(id__in=job_ids, dispatched_at__gt=restarted).count()
    assert republished == 200, "every lost message was published again by the dispatcher"


def test_jobs_posted_while_the_broker_is_down_run_once_it_returns(stack):
    stack.start_worker()
    stack.redis.stop()

    job_ids = [stack.submit(seconds=0, record_effect=True) for _ in range(10)]  # each answers 202
    assert Job.objects.filter(id__in=job_ids, status=JobStatus.PENDING, dispatched_at__isnull=True).count() == 10

    stack.redis.start()
    # Beat and the worker reconnect with growing back-off (Celery's, up to 30 s between tries).
    all_completed(job_ids, timeout=150)
    assert_exactly_once(job_ids)


def test_worker_recovers_when_postgres_drops_its_connections(stack):
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    stack.start_worker()
    job_id = stack.submit(seconds=3, steps=12, record_effect=True)
    wait_for(lambda: Job.objects.filter(id=job_id, progress__gte=20).exists(), timeout=20)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1

    all_completed([job_id], timeout=40)
    assert_exactly_once([job_id])


def test_sigterm_lets_a_running_job_finish(stack):
    worker = stack.start_worker()
    job_id = stack.submit(seconds=2, steps=4, record_effect=True)
    wait_for(lambda: Job.objects.filter(id=job_id, status=JobStatus.RUNNING).exists(), timeout=20)

    worker.stop(timeout=30)  # SIGTERM: warm shutdown within JOBS_SHUTDOWN_GRACE_SECONDS (4 s here)

    job = Job.objects.get(id=job_id)
    assert job.status == JobStatus.COMPLETED and job.attempts == 1


def test_sigterm_past_the_grace_period_hands_the_job_back(stack):
    worker = stack.start_worker()
    job_id = stack.submit(seconds=10, steps=20, record_effect=True)
    wait_for(lambda: Job.objects.filter(id=job_id, status=JobStatus.RUNNING).exists(), timeout=20)

    worker.stop(timeout=30)
    assert Job.objects.get(id=job_id).status == JobStatus.RETRYING, "handed back, not left running"
    assert JobAttempt.objects.get(job_id=job_id, number=1).outcome == JobAttempt.Outcome.HANDED_BACK
    stack.start_worker()

    all_completed([job_id], timeout=60)
    assert_exactly_once([job_id])


def test_1000_concurrent_posts_with_a_worker_killed_and_restarted(stack):
    worker = stack.start_worker()

    def post_batch(count):
        session = requests.Session()
        return [stack.submit(session, seconds=0, record_effect=True) for _ in range(count)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        batches = [pool.submit(post_batch, 1000 // 16 + (1 if i < 1000 % 16 else 0)) for i in range(16)]
        wait_for(lambda: Job.objects.filter(status=JobStatus.COMPLETED).count() >= 200, timeout=60, interval=0.1)
        worker.kill()
        time.sleep(1)
        stack.start_worker()
        job_ids = [job_id for batch in batches for job_id in batch.result()]

    assert len(set(job_ids)) == 1000
    all_completed(job_ids, timeout=240)
    assert_exactly_once(job_ids)
