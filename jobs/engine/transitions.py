"""Every move a job's status may make, declared once, and the one function that makes them.

A move is one conditional UPDATE: it changes only jobs that are in one of its source states (and,
where the caller holds an attempt, at that attempt and claim: the fencing token). Zero rows means the move is
not allowed now, or another process made a move first; callers say so explicitly. The store's
claim and finish statements (jobs.store) take their states from the same moves.

    scheduled --release--> pending --claim--> running --complete--> completed
                           ^   retrying <--retry/lose/hand back--'  '--fail/lose--> failed
                           |      '--claim--> running
    scheduled, pending, retrying, running --cancel--> cancelled
    failed, cancelled --replay--> pending
    failed --discard--> failed (out of the dead-letter queue, kept)
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from ..errors import AttemptSuperseded, JobCancelled
from ..models import Job, JobStatus


@dataclass(frozen=True)
class Move:
    name: str
    sources: tuple[JobStatus, ...]
    target: JobStatus


RELEASE = Move("release", (JobStatus.SCHEDULED,), JobStatus.PENDING)  # its run_at has come
CLAIM = Move("claim", (JobStatus.PENDING, JobStatus.RETRYING), JobStatus.RUNNING)  # a worker takes the next attempt
COMPLETE = Move("complete", (JobStatus.RUNNING,), JobStatus.COMPLETED)  # the handler returned (or a batch's last part ended)
RETRY = Move("retry", (JobStatus.RUNNING,), JobStatus.RETRYING)  # a transient error, attempts left
FAIL = Move("fail", (JobStatus.RUNNING,), JobStatus.FAILED)  # a permanent error, or the last attempt
LOSE_AND_RETRY = Move("lose and retry", (JobStatus.RUNNING,), JobStatus.RETRYING)  # the reaper: heartbeat stopped, attempts left
LOSE_AND_FAIL = Move("lose and fail", (JobStatus.RUNNING,), JobStatus.FAILED)  # the reaper: heartbeat stopped, none left
HAND_BACK = Move("hand back", (JobStatus.RUNNING,), JobStatus.RETRYING)  # its worker is stopping: another takes it now
CANCEL = Move("cancel", (JobStatus.SCHEDULED, JobStatus.PENDING, JobStatus.RETRYING, JobStatus.RUNNING), JobStatus.CANCELLED)
REPLAY = Move("replay", (JobStatus.FAILED, JobStatus.CANCELLED), JobStatus.PENDING)  # an operator runs it again
DISCARD = Move("discard", (JobStatus.FAILED,), JobStatus.FAILED)  # an operator takes it out of the dead letters

MOVES = (RELEASE, CLAIM, COMPLETE, RETRY, FAIL, LOSE_AND_RETRY, LOSE_AND_FAIL, HAND_BACK, CANCEL, REPLAY, DISCARD)


def move_jobs(move: Move, jobs: QuerySet[Job], **changes) -> int:
    """Make `move` for those of `jobs` that are in one of its source states, with `changes`, in one
    UPDATE; the caller's queryset carries its fences (id, attempt, heartbeat). Returns how many moved."""
    return jobs.filter(status__in=move.sources).update(status=move.target, **changes)


def allowed_moves(source: JobStatus) -> list[Move]:
    return [move for move in MOVES if source in move.sources]


def as_claim_id(message_id) -> uuid.UUID:
    """The claim id for a message id (Celery's are UUIDs); a new one for none or another form."""
    try:
        return uuid.UUID(str(message_id)) if message_id else uuid.uuid4()
    except ValueError:
        return uuid.uuid4()


def running(job_id: str, attempt: int, claim_id) -> QuerySet[Job]:
    """The job, if it is running attempt `attempt` under the claim `claim_id`: the fence of every
    write a worker makes between its claim and its finish (progress, heartbeat, result file, children)."""
    assert claim_id is not None, "a worker's write names its claim"
    return Job.objects.filter(id=job_id, status=JobStatus.RUNNING, attempts=attempt, claim_id=claim_id)


def fenced_out_error(job_id: str) -> Exception:
    """Why a fenced write matched nothing: the job was cancelled, or this attempt was superseded."""
    status = Job.objects.filter(id=job_id).values_list("status", flat=True).first()
    return JobCancelled() if status == JobStatus.CANCELLED else AttemptSuperseded()
