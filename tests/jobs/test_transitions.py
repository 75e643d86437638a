"""The declared moves of a job's status (jobs/engine/transitions.py): each move is made from its
source states and from no other, through every path that makes it, on both stores (the worker's
one-statement claim and finish on PostgreSQL, the portable ORM ones), and no code outside that
module changes a status."""
from __future__ import annotations

import ast
import uuid

import pytest

from datetime import timedelta

from django.utils import timezone

from jobs.engine import actions, dispatch, running
from jobs.engine.transitions import CANCEL, CLAIM, COMPLETE, DISCARD, FAIL, MOVES, REPLAY, RETRY, allowed_moves, move_jobs
from jobs.errors import JobStateConflict
from jobs.models import TERMINAL_STATUSES, Job, JobStatus

from ..support import ROOT

ALL = list(JobStatus)

pytestmark = pytest.mark.usefixtures("store")


CLAIM_ID = uuid.UUID("0b6a1d3c-6f1e-4d0e-9a51-3f2f2b9e7c10")


def job_in(user, status: JobStatus, attempts: int = 1) -> Job:
    return Job.objects.create(owner=user, type="diagnostics.sleep", status=status, attempts=attempts, max_attempts=5,
                              claim_id=CLAIM_ID)


def test_finished_jobs_leave_only_by_replay():
    for status in TERMINAL_STATUSES:
        leaving = [move.name for move in allowed_moves(status) if move.target != status]
        assert leaving == (["replay"] if status != JobStatus.COMPLETED else [])


def test_every_status_is_reachable_and_every_move_named_once():
    reached = {move.target for move in MOVES} | {JobStatus.SCHEDULED, JobStatus.PENDING}  # the two a submission makes
    assert reached == set(ALL)
    assert len({move.name for move in MOVES}) == len(MOVES)


@pytest.mark.django_db
@pytest.mark.parametrize("move", MOVES, ids=lambda move: move.name)
@pytest.mark.parametrize("status", ALL)
def test_a_move_changes_only_jobs_in_its_source_states(user, move, status):
    job = job_in(user, status)

    moved = move_jobs(move, Job.objects.filter(id=job.id))

    job.refresh_from_db()
    if status in move.sources:
        assert moved == 1 and job.status == move.target
    else:
        assert moved == 0 and job.status == status


@pytest.mark.django_db
@pytest.mark.parametrize("status", [s for s in ALL if s not in CLAIM.sources])
def test_the_worker_cannot_claim_from_another_state(user, status):
    job = job_in(user, status, attempts=0)
    assert running.job_claim(job.id, 1) is None
    job.refresh_from_db()
    assert job.status == status and job.attempts == 0 and not job.attempt_rows.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("finish", ["complete", "retry", "fail"])
@pytest.mark.parametrize("status", [s for s in ALL if s != JobStatus.RUNNING])
def test_the_worker_cannot_finish_a_job_that_is_not_running(user, finish, status):
    job = job_in(user, status)
    error = {"error_type": "E", "error_message": "m", "traceback": ""}
    finished = {
        "complete": lambda: running.job_complete(job.id, 1, CLAIM_ID, {}, 5),
        "retry": lambda: running.job_retry_later(job.id, 1, CLAIM_ID, error, 1.0, 5),
        "fail": lambda: running.job_fail(job.id, 1, CLAIM_ID, error, 5),
    }[finish]()
    job.refresh_from_db()
    assert finished is False and job.status == status


@pytest.mark.django_db
@pytest.mark.parametrize("move", [COMPLETE, RETRY, FAIL], ids=lambda move: move.name)
def test_the_worker_cannot_finish_another_attempt(user, move):
    job = job_in(user, JobStatus.RUNNING, attempts=2)
    error = {"error_type": "E", "error_message": "m", "traceback": ""}
    finish = {COMPLETE: lambda: running.job_complete(job.id, 1, CLAIM_ID, {}, 5),
              RETRY: lambda: running.job_retry_later(job.id, 1, CLAIM_ID, error, 1.0, 5),
              FAIL: lambda: running.job_fail(job.id, 1, CLAIM_ID, error, 5)}[move]
    assert finish() is False
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.attempts == 2


@pytest.mark.django_db
@pytest.mark.parametrize("move", [COMPLETE, RETRY, FAIL], ids=lambda move: move.name)
def test_the_worker_cannot_finish_another_claim_of_its_attempt(user, move):
    """A claim lost in a database crash (it does not wait for the disk) is made again, for the
    same attempt number, by another worker: the first worker's writes must all miss."""
    job = job_in(user, JobStatus.RUNNING, attempts=1)
    mine = uuid.uuid4()
    error = {"error_type": "E", "error_message": "m", "traceback": ""}
    finish = {COMPLETE: lambda: running.job_complete(job.id, 1, mine, {}, 5),
              RETRY: lambda: running.job_retry_later(job.id, 1, mine, error, 1.0, 5),
              FAIL: lambda: running.job_fail(job.id, 1, mine, error, 5)}[move]
    assert finish() is False
    assert not running.job_heartbeat(job.id, 1, mine)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.claim_id) == (JobStatus.RUNNING, 1, CLAIM_ID)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [s for s in ALL if s not in CANCEL.sources])
def test_a_finished_job_cannot_be_cancelled(user, status):
    job = job_in(user, status)
    with pytest.raises(JobStateConflict):
        actions.job_cancel(job, actor=user)
    job.refresh_from_db()
    assert job.status == status


@pytest.mark.django_db
@pytest.mark.parametrize("status", [s for s in ALL if s not in REPLAY.sources])
def test_only_failed_or_cancelled_jobs_can_be_replayed(user, status):
    job = job_in(user, status)
    assert actions.job_replay(job, actor=user) is False
    job.refresh_from_db()
    assert job.status == status


@pytest.mark.django_db
@pytest.mark.parametrize("status", [s for s in ALL if s not in DISCARD.sources])
def test_only_failed_jobs_can_be_discarded(user, status):
    job = job_in(user, status)
    assert actions.job_discard(job, actor=user) is False
    job.refresh_from_db()
    assert job.status == status and job.discarded_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("status", [s for s in ALL if s != JobStatus.RUNNING])
def test_the_reaper_takes_only_running_jobs(user, settings, status):
    job = job_in(user, status)
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(seconds=settings.JOBS_STALL_TIMEOUT + 60))
    assert dispatch.jobs_reap_stalled() == 0
    job.refresh_from_db()
    assert job.status == status


def status_updates(path, jobs_only: bool) -> list[int]:
    """Lines of `path` that call .update(..., status=...), on a Job queryset when `jobs_only`
    (other apps' models have statuses of their own)."""
    source = path.read_text()
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update"
        and any(keyword.arg == "status" for keyword in node.keywords)
        and (not jobs_only or "Job.objects" in ast.get_source_segment(source, node))
    ]


def test_no_code_outside_the_table_changes_a_status():
    offenders = {
        str(path.relative_to(ROOT)): lines
        for package in ("jobs", "notifications", "reports", "schedules", "ops")
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and path.name != "transitions.py"
        and (lines := status_updates(path, jobs_only=package != "jobs"))
    }
    assert not offenders, offenders
