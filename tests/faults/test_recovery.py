"""Recovery at the default settings, with real workers, beat and Redis: a job whose worker (or
worker child) is killed starts its next attempt within seconds; a child too busy to write its
heartbeat is not declared lost; a stopping worker hands its unfinished jobs back at once.
(How many seconds exactly is measured in bench/recovery.py, not asserted here.)"""
from __future__ import annotations

import os
import signal
import time

from jobs.models import Job, JobAttempt, JobStatus

from ..support import BeatProcess, submit_sleep, wait_for
from .test_faults import all_completed, assert_exactly_once

import pytest

pytestmark = pytest.mark.worker

# Far more than the recovery takes (about 10-12 s), far less than the old 60 s stall timeout.
RECOVERED_WITHIN = 30


def running_attempt(job_id: str, number: int = 1) -> JobAttempt:
    wait_for(lambda: JobAttempt.objects.filter(job_id=job_id, number=number).exists(), timeout=30)
    return JobAttempt.objects.get(job_id=job_id, number=number)


def worker_named(stack, attempt: JobAttempt):
    return next(w for w in stack.workers if attempt.worker.startswith(w.log_path.stem + "@"))


def test_a_killed_worker_s_job_starts_again_on_another_within_seconds(default_stack):
    stack = default_stack
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    job_id = stack.submit(seconds=60, steps=60, record_effect=True)
    first = running_attempt(job_id)
    killed = worker_named(stack, first)

    killed.kill()  # SIGKILL to the main process and its child: nothing says goodbye
    started = time.monotonic()
    second = running_attempt(job_id, 2)
    assert time.monotonic() - started < RECOVERED_WITHIN
    assert not second.worker.startswith(killed.log_path.stem + "@")
    assert JobAttempt.objects.get(job_id=job_id, number=1).outcome == JobAttempt.Outcome.LOST


def test_a_killed_child_s_job_starts_again_within_seconds(default_stack):
    """The worker's main process survives and forgets the child's task at once."""
    stack = default_stack
    stack.start_worker(concurrency=1)
    job_id = stack.submit(seconds=60, steps=60)
    first = running_attempt(job_id)

    os.kill(first.pid, signal.SIGKILL)
    started = time.monotonic()
    running_attempt(job_id, 2)
    assert time.monotonic() - started < RECOVERED_WITHIN
    assert JobAttempt.objects.get(job_id=job_id, number=1).outcome == JobAttempt.Outcome.LOST


def test_a_child_too_busy_to_write_its_heartbeat_is_not_lost(default_stack):
    """The child never writes a heartbeat (as if its handler held the interpreter, or the database
    were slow) for longer than JOBS_LOST_AFTER: its worker's main process vouches for it."""
    stack = default_stack
    stack.start_worker(concurrency=1, JOBS_HEARTBEAT_INTERVAL="1000")
    job_id = stack.submit(seconds=16, steps=1, record_effect=True)  # no progress write until the end
    running_attempt(job_id)
    stack.start_worker(concurrency=1)  # free to run the reaper (and to take the job, were it lost)

    all_completed([job_id], timeout=60)
    assert Job.objects.get(id=job_id).attempts == 1
    assert_exactly_once([job_id])


def test_a_stopping_worker_hands_its_job_back_at_once(default_stack):
    stack = default_stack
    stopping = stack.start_worker(concurrency=1, JOBS_SHUTDOWN_GRACE_SECONDS="1")
    job_id = stack.submit(seconds=20, steps=20, record_effect=True)
    running_attempt(job_id)
    stack.start_worker(concurrency=1)

    started = time.monotonic()
    stopping.stop(timeout=30)  # SIGTERM
    assert time.monotonic() - started < 10, "the worker stops soon after its grace period"
    running_attempt(job_id, 2)
    assert time.monotonic() - started < 10, "and the job starts again at once, not after JOBS_LOST_AFTER"

    first = JobAttempt.objects.get(job_id=job_id, number=1)
    assert first.outcome == JobAttempt.Outcome.HANDED_BACK
    job = Job.objects.get(id=job_id)
    assert job.max_attempts == 6, "a handed-back attempt is not counted against the job's five"
    assert job.status == JobStatus.RUNNING and job.attempts == 2


def test_with_two_beats_killing_one_keeps_delayed_jobs_on_time(default_stack):
    """The recommended set-up runs two beats: the dispatcher, the reaper and every schedule are
    safe to run twice, and one beat lost costs nothing."""
    stack = default_stack
    second = BeatProcess(stack.database, stack.tmp, env=stack.env).start()
    stack.start_worker(concurrency=1)
    stack.beat.kill()
    try:
        submitted = time.monotonic()
        job_id = submit_sleep(stack.web.url, stack.token, options={"delay_seconds": 2}, seconds=0)
        all_completed([job_id], timeout=RECOVERED_WITHIN)
        assert time.monotonic() - submitted < RECOVERED_WITHIN
        job = Job.objects.get(id=job_id)
        assert (job.started_at - job.created_at).total_seconds() < 5, "due after 2 s, started by the other beat's dispatcher"
    finally:
        second.kill()
