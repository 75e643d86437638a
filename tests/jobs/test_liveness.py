"""Which running jobs are lost (jobs/liveness.py, the reaper in jobs/engine/dispatch.py) and the
hand-back of a stopping worker, against the real Redis and database. The worker processes that
vouch and hand back are tried in tests/faults/test_recovery.py."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import liveness
from jobs.engine import dispatch
from jobs.models import Job, JobAttempt, JobStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("store")]


@pytest.fixture(autouse=True)
def published(monkeypatch) -> list:
    """The next attempts the reaper and the hand-back publish, kept from the broker (a session
    worker would take them and move the job on before the test looks)."""
    sent = []
    monkeypatch.setattr(dispatch, "job_publish", lambda *args, **kwargs: sent.append(args) or True)
    return sent


def running_job(user, quiet_for: float, attempt: int = 1) -> Job:
    """A job running `attempt`, whose last heartbeat was `quiet_for` seconds ago."""
    beat = timezone.now() - timedelta(seconds=quiet_for)
    job = Job.objects.create(owner=user, type="diagnostics.sleep", status=JobStatus.RUNNING, attempts=attempt,
                             max_attempts=3, heartbeat_at=beat, dispatched_at=beat, started_at=beat, claim_id=uuid.uuid4())
    JobAttempt.objects.create(job=job, number=attempt, claim_id=job.claim_id, worker="gone@host", started_at=beat)
    return job


def test_a_quiet_attempt_no_worker_vouches_for_is_lost(user, settings, published):
    job = running_job(user, quiet_for=settings.JOBS_LOST_AFTER + 1)

    assert dispatch.jobs_reap_stalled() == 1

    job.refresh_from_db()
    assert (job.status, job.error_type) == (JobStatus.RETRYING, "jobs.errors.WorkerLost")
    assert JobAttempt.objects.get(job=job, number=1).outcome == JobAttempt.Outcome.LOST
    assert published == [(job.id, 2, job.priority)]


def test_a_quiet_attempt_its_worker_vouches_for_keeps_running(user, settings):
    """A child too busy to write its heartbeat (or a slow database) is not a lost worker."""
    job = running_job(user, quiet_for=settings.JOBS_STALL_TIMEOUT + 1)
    liveness.attempts_vouch([(job.id, 1)])

    assert dispatch.jobs_reap_stalled() == 0
    assert Job.objects.get(id=job.id).status == JobStatus.RUNNING


def test_vouching_for_another_attempt_does_not_keep_this_one(user, settings):
    job = running_job(user, quiet_for=settings.JOBS_LOST_AFTER + 1, attempt=2)
    liveness.attempts_vouch([(job.id, 1)])  # a stale worker still holding attempt 1

    assert dispatch.jobs_reap_stalled() == 1


def test_a_recent_heartbeat_needs_no_voucher(user, settings):
    job = running_job(user, quiet_for=settings.JOBS_LOST_AFTER - 2)

    assert dispatch.jobs_reap_stalled() == 0
    assert Job.objects.get(id=job.id).status == JobStatus.RUNNING


def test_a_voucher_expires_when_it_is_not_renewed(user, settings):
    settings.JOBS_LOST_AFTER = 0.3
    liveness.attempts_vouch([("01VOUCHED", 1)])
    assert liveness.attempts_vouched_for([("01VOUCHED", 1), ("01OTHER", 1)]) == {("01VOUCHED", 1)}
    time.sleep(0.5)
    assert liveness.attempts_vouched_for([("01VOUCHED", 1)]) == set()


def test_without_redis_only_the_stall_timeout_declares_a_job_lost(user, settings):
    """Redis unreachable: nobody can vouch, so a quiet job is lost only after JOBS_STALL_TIMEOUT."""
    quiet = running_job(user, quiet_for=settings.JOBS_LOST_AFTER + 1)
    stalled = running_job(user, quiet_for=settings.JOBS_STALL_TIMEOUT + 1)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    assert liveness.attempts_vouched_for([(quiet.id, 1)]) is None

    assert dispatch.jobs_reap_stalled() == 1

    assert Job.objects.get(id=quiet.id).status == JobStatus.RUNNING
    assert Job.objects.get(id=stalled.id).status == JobStatus.RETRYING


def test_a_handed_back_attempt_is_retried_at_once_and_not_counted(user, published):
    job = running_job(user, quiet_for=0, attempt=2)

    assert not dispatch.job_hand_back(job.id, 2, uuid.uuid4()), "another claim of the attempt is not this worker's"
    assert dispatch.job_hand_back(job.id, 2, str(job.claim_id))  # the message id, as the worker's main process has it

    job.refresh_from_db()
    assert (job.status, job.max_attempts, job.dispatched_at) == (JobStatus.RETRYING, 4, None)
    assert job.error_type == "jobs.errors.WorkerStopped"
    assert JobAttempt.objects.get(job=job, number=2).outcome == JobAttempt.Outcome.HANDED_BACK
    assert published == [(job.id, 3, job.priority)]


@pytest.mark.parametrize("status", [s for s in JobStatus if s != JobStatus.RUNNING])
def test_only_a_running_attempt_can_be_handed_back(user, status):
    job = Job.objects.create(owner=user, type="diagnostics.sleep", status=status, attempts=1, max_attempts=3)
    assert not dispatch.job_hand_back(job.id, 1, job.claim_id)
    job.refresh_from_db()
    assert (job.status, job.max_attempts) == (status, 3)


def test_an_attempt_already_superseded_is_not_handed_back(user):
    job = running_job(user, quiet_for=0, attempt=3)
    assert not dispatch.job_hand_back(job.id, 2, job.claim_id)
    assert Job.objects.get(id=job.id).status == JobStatus.RUNNING
