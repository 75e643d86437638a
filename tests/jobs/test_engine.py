"""The state machine and the runner, called directly (no broker): fencing, claims, outcomes."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from jobs.engine import actions, running, submission
from jobs.context import JobContext
from jobs.errors import AttemptSuperseded, JobCancelled
from jobs.models import Job, JobAttempt, JobStatus
from jobs.runner import job_run_attempt

# Every test here runs once per store: PostgreSQL's own statements and the portable ORM ones.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store")]


@pytest.fixture
def pending_job(user):
    return Job.objects.create(owner=user, type="diagnostics.sleep", input={"seconds": 0}, max_attempts=5)


def test_a_duplicate_message_never_starts_a_job_twice(pending_job):
    first = running.job_claim(pending_job.id, 1, worker="w1")
    second = running.job_claim(pending_job.id, 1, worker="w2")

    assert first is not None and first.status == JobStatus.RUNNING
    assert second is None
    assert JobAttempt.objects.filter(job=pending_job).count() == 1


def test_a_message_for_a_later_attempt_cannot_skip_ahead(pending_job):
    assert running.job_claim(pending_job.id, 2) is None
    assert Job.objects.get(id=pending_job.id).status == JobStatus.PENDING


def test_a_stale_worker_cannot_overwrite_a_newer_attempt(pending_job):
    first = running.job_claim(pending_job.id, 1)
    error = {"error_type": "X", "error_message": "boom", "traceback": ""}
    assert running.job_retry_later(pending_job.id, 1, first.claim_id, error, delay=0, duration_ms=1)
    running.job_claim(pending_job.id, 2)

    # The worker of attempt 1 comes back late and tries to finish and report.
    assert running.job_complete(pending_job.id, 1, first.claim_id, {"late": True}, duration_ms=5) is False
    with pytest.raises(AttemptSuperseded):
        running.job_report_progress(first, 1, 50, "late")

    job = Job.objects.get(id=pending_job.id)
    assert job.status == JobStatus.RUNNING and job.attempts == 2 and job.output is None
    first_start = JobAttempt.objects.get(job=job, number=1).started_at
    assert job.started_at == first_start, "started_at is the first attempt's start"
    assert JobAttempt.objects.get(job=job, number=2).started_at > first_start
    assert JobAttempt.objects.get(job=job, number=1).outcome == "lost", "the late finish closes its row as lost"


def test_a_claim_lost_in_a_crash_and_made_again_shuts_out_the_first_worker(pending_job):
    """The claim does not wait for the disk: a database crash can lose it while its worker runs on.
    The job is then waiting at the earlier attempt again, the redispatcher publishes the same
    attempt number, and a second worker claims it. Every write of the first must miss."""
    from jobs.engine import batches, dispatch

    first = running.job_claim(pending_job.id, 1, claim_id="3f0c9c7e-51d4-4a8e-b8a2-1d1c6f1f8f11")
    assert str(first.claim_id) == "3f0c9c7e-51d4-4a8e-b8a2-1d1c6f1f8f11", "the message's id"
    # What the crash leaves: the claim and its attempt row never happened.
    JobAttempt.objects.filter(job=pending_job).delete()
    Job.objects.filter(id=pending_job.id).update(status=JobStatus.PENDING, attempts=0, claim_id=None)
    second = running.job_claim(pending_job.id, 1)
    assert second.claim_id != first.claim_id

    assert not running.job_heartbeat(pending_job.id, 1, first.claim_id)
    with pytest.raises(AttemptSuperseded):
        running.job_report_progress(first, 1, 50, "late")
    with pytest.raises(AttemptSuperseded):
        running.job_attach_result(pending_job.id, 1, first.claim_id, "results/x/late.csv")
    with pytest.raises(AttemptSuperseded):
        batches.job_await_children(pending_job.id, 1, first.claim_id, {"late": True}, 1)
    assert running.job_complete(pending_job.id, 1, first.claim_id, {"late": True}, 5) is False
    assert not dispatch.job_hand_back(pending_job.id, 1, str(first.claim_id))

    job = Job.objects.get(id=pending_job.id)
    attempt = JobAttempt.objects.get(job=job)
    assert (job.status, job.attempts, job.claim_id, job.progress, job.result_file.name, job.output) == (
        JobStatus.RUNNING, 1, second.claim_id, 0, "", None)
    assert (attempt.outcome, attempt.finished_at, attempt.claim_id) == ("running", None, second.claim_id)

    assert running.job_complete(pending_job.id, 1, second.claim_id, {"ok": True}, 5)
    assert Job.objects.get(id=pending_job.id).output == {"ok": True}


def test_a_finish_after_cancel_closes_the_attempt_as_cancelled(pending_job, user):
    claimed = running.job_claim(pending_job.id, 1)
    actions.job_cancel(Job.objects.get(id=pending_job.id), actor=user)

    assert running.job_complete(pending_job.id, 1, claimed.claim_id, {"late": True}, duration_ms=7) is False
    job = Job.objects.get(id=pending_job.id)
    attempt = JobAttempt.objects.get(job=job, number=1)
    assert (job.status, job.output) == (JobStatus.CANCELLED, None)
    assert (attempt.outcome, attempt.duration_ms) == ("cancelled", 7) and attempt.finished_at is not None


def test_progress_after_cancel_raises_job_cancelled(pending_job, user):
    job = running.job_claim(pending_job.id, 1)
    actions.job_cancel(job, actor=user)

    with pytest.raises(JobCancelled):
        running.job_report_progress(job, 1, 10, "")
    assert running.job_complete(job.id, 1, job.claim_id, {}, 1) is False
    assert Job.objects.get(id=job.id).status == JobStatus.CANCELLED
    assert JobAttempt.objects.get(job=job).outcome == "cancelled"


def test_progress_is_coalesced_and_never_goes_backwards(pending_job, django_assert_max_num_queries):
    job = running.job_claim(pending_job.id, 1)
    ctx = JobContext(job, 1, min_interval=60)

    with django_assert_max_num_queries(1):
        for percent in range(1, 1001):
            ctx.progress(percent / 10)
    ctx_fast = JobContext(job, 1, min_interval=0)
    ctx_fast.progress(40)
    ctx_fast.progress(20, "going back")
    assert Job.objects.get(id=job.id).progress == 40


def test_runner_completes_and_records_the_attempt(pending_job):
    assert job_run_attempt(pending_job.id, 1, worker="w@host") == "completed"

    job = Job.objects.get(id=pending_job.id)
    assert job.status == JobStatus.COMPLETED and job.output["attempt"] == 1 and job.progress == 100
    attempt = JobAttempt.objects.get(job=job)
    assert attempt.worker == "w@host" and attempt.pid and attempt.finished_at and attempt.duration_ms is not None


def test_runner_drops_a_message_for_a_finished_job(pending_job):
    job_run_attempt(pending_job.id, 1)
    assert job_run_attempt(pending_job.id, 1) == "dropped"
    assert JobAttempt.objects.filter(job=pending_job).count() == 1


def test_an_inactive_owners_job_fails_without_running(pending_job, user):
    user.is_active = False
    user.save()

    assert job_run_attempt(pending_job.id, 1) == "failed"
    job = Job.objects.get(id=pending_job.id)
    assert job.error_type == "PermissionError" and job.attempts == 1


def test_a_job_whose_type_disappeared_fails_permanently(user):
    job = Job.objects.create(owner=user, type="retired.type", input={}, max_attempts=5)
    assert job_run_attempt(job.id, 1) == "failed"
    assert Job.objects.get(id=job.id).error_type == "jobs.errors.UnknownJobType"


@pytest.mark.django_db(transaction=True)
def test_a_quick_job_costs_two_round_trips_on_postgresql(user, store):
    """The hot path's database round trips. With the PostgreSQL store the claim (job UPDATE,
    attempt INSERT, the job read back) and the completion (job UPDATE, attempt UPDATE, the job read
    back for the live event) are one statement each, both in autocommit: no BEGIN or COMMIT round
    trips. The portable store takes the same steps as separate statements in two transactions."""
    from django.db import connection

    job = Job.objects.create(owner=user, type="diagnostics.sleep", input={"seconds": 0}, max_attempts=5)
    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql, connection.get_autocommit()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert job_run_attempt(job.id, 1) == "completed"

    listing = "\n".join(sql for sql, _ in statements)
    if store.name == "postgresql":
        assert len(statements) == 2, listing
        assert all(autocommit for _, autocommit in statements), listing
    else:
        assert len([sql for sql, _ in statements if not sql.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]) == 6, listing
    job.refresh_from_db()
    attempt = job.attempt_rows.get()
    assert (job.status, job.progress, job.attempts) == (JobStatus.COMPLETED, 100, 1)
    assert job.started_at == attempt.started_at and job.completed_at == attempt.finished_at
    assert (attempt.outcome, attempt.number) == ("completed", 1)
    assert attempt.finished_at is not None and attempt.duration_ms is not None


@pytest.mark.django_db(transaction=True)
def test_only_the_claim_skips_the_wait_for_the_disk_on_postgresql(user, store):
    """The claim commits without waiting for the disk (a claim lost in a crash is made again under
    a new claim id, which fences out the first: docs/reliability.md); the finish, and whatever
    the connection runs next, wait as always."""
    from django.db import connection, transaction

    if store.name != "postgresql":
        pytest.skip("PostgreSQL's commit setting")

    def commit_mode() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    job = Job.objects.create(owner=user, type="diagnostics.sleep", input={"seconds": 0})
    with transaction.atomic():  # to look inside the claim's transaction before it commits
        claimed = running.job_claim(job.id, 1)
        assert claimed is not None and commit_mode() == "off"
    assert commit_mode() == "on", "only for the claim's own transaction"
    with transaction.atomic():
        assert running.job_complete(job.id, 1, claimed.claim_id, {}, 1)
        assert commit_mode() == "on"
    assert JobAttempt.objects.get(job=job).claim_id == claimed.claim_id == Job.objects.get(id=job.id).claim_id


@pytest.mark.django_db(transaction=True)
def test_a_submission_is_one_statement_and_its_publish_on_postgresql(user, monkeypatch, store):
    """job_enqueue stores the job, already marked dispatched, and its audit event together; on
    PostgreSQL as one INSERT statement in autocommit, and then only the publish."""
    from django.db import connection

    from jobs.models import AuditEvent

    published = []
    monkeypatch.setattr(submission, "job_publish_first", lambda *args, **kwargs: published.append(args) or True)
    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql, connection.get_autocommit()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        job = submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 1}, client_address="10.0.0.7")

    listing = "\n".join(sql for sql, _ in statements)
    if store.name == "postgresql":
        assert len(statements) == 1 and statements[0][1], listing
    stored = Job.objects.get(id=job.id)
    assert (stored.status, stored.input, stored.owner_id, stored.max_attempts) == (JobStatus.PENDING, {"seconds": 1.0, "steps": 1, "fail_attempts": 0, "error": "transient", "record_effect": False}, user.id, job.max_attempts)
    assert stored.created_at == job.created_at
    assert abs(stored.dispatched_at - stored.created_at) < timedelta(seconds=1)
    audit = AuditEvent.objects.get(job_id=job.id)
    assert (audit.action, audit.actor_id, audit.client_address, audit.details) == (
        "job.enqueue", user.id, "10.0.0.7", {"type": "diagnostics.sleep", "priority": job.priority}
    )
    assert published == [(job.id, job.priority)]


@pytest.mark.django_db(transaction=True)
def test_a_first_publish_the_broker_refuses_leaves_the_job_to_the_dispatcher(user, monkeypatch, store):
    """The dispatched mark stored with the job is taken back when the broker refuses the message,
    so the dispatcher's query for undispatched jobs finds it. (The broker really down: tests/faults.)"""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from jobs.engine import direct_publish
    from jobs.engine import dispatch

    def refuse(*args, **kwargs):
        raise RedisConnectionError("broker down")

    monkeypatch.setattr(direct_publish, "publish_direct", refuse)
    job = submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0})
    assert Job.objects.get(id=job.id).dispatched_at is None

    published = []
    monkeypatch.setattr(direct_publish, "publish_direct", lambda task, args, queue: published.append(args))
    later = timezone.now() + timedelta(seconds=settings.JOBS_DISPATCH_GRACE_SECONDS + 1)
    assert dispatch.jobs_dispatch_due(now=later) >= 1
    assert (job.id, 1) in published
    assert Job.objects.get(id=job.id).dispatched_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_quiet_handler_keeps_its_heartbeat_fresh_job_after_job(user, settings):
    """A handler that reports no progress is still marked alive every JOBS_HEARTBEAT_INTERVAL,
    for each job a worker process runs in turn (the reaper retries jobs whose heartbeat stops)."""
    import threading

    from django.db import connection

    settings.JOBS_HEARTBEAT_INTERVAL = 0.1
    for _ in range(2):
        job = Job.objects.create(owner=user, type="diagnostics.sleep", input={"seconds": 0.8, "steps": 1}, max_attempts=1)
        runner = threading.Thread(target=lambda: (job_run_attempt(job.id, 1), connection.close()))
        runner.start()
        beats = set()
        while runner.is_alive():
            status, heartbeat_at = Job.objects.filter(id=job.id).values_list("status", "heartbeat_at").get()
            if status == JobStatus.RUNNING:
                beats.add(heartbeat_at)
            time.sleep(0.01)  # a tight loop here starved the heartbeat thread of the GIL on a loaded machine
        runner.join()
        assert len(beats) >= 4, f"the heartbeat moved {len(beats) - 1} times in 0.8 s at 0.1 s intervals"
        assert Job.objects.get(id=job.id).status == JobStatus.COMPLETED
