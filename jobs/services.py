"""Writes to job state. Every transition is one conditional UPDATE guarded by status and attempt.

Zero rows updated means the transition is not allowed, or another process got there first; the
functions here say so in their return value instead of reading, checking and saving.
"""
from __future__ import annotations

import functools
import logging
from contextlib import nullcontext
from collections import defaultdict
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.contrib.auth import get_user_model
from django.db.models import Count, DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.db.models.sql import InsertQuery
from django.utils import timezone

from . import events, hooks, rows, sensitive
from .authorization import CANCEL_JOBS, is_operator, submission_refusal
from .errors import ActionForbidden, AttemptSuperseded, IdempotencyKeyReused, JobCancelled, JobStateConflict
from .models import TERMINAL_STATUSES, WAITING_STATUSES, AuditEvent, Job, JobAttempt, JobStatus, job_route
from .registry import get_job_type
from .transitions import CANCEL, CLAIM, COMPLETE, FAIL, LOSE_AND_FAIL, LOSE_AND_RETRY, RELEASE, REPLAY, RETRY, Move, move_jobs

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)


def reconnect_once(func):
    """Worker-side writes survive a dropped database connection (server restart, failover,
    pg_terminate_backend): close the dead connection and run the write once more. Every write
    here is a conditional UPDATE, so running it again after an unknown outcome is safe."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block:
                raise
            logger.warning("Database connection lost in %s; reconnecting once.", func.__name__)
            connection.close()
            return func(*args, **kwargs)

    return wrapper


def audit_record(**event) -> AuditEvent:
    record = audit_event(**event)
    record.save()
    return record


def audit_event(
    *,
    actor: Any,
    action: str,
    job: Job | None = None,
    target: str = "",
    client_address: str | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """An unsaved audit event."""
    return AuditEvent(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        job=job,
        target=target or (job.id if job else ""),
        client_address=client_address,
        details=details or {},
    )


# --- submitting ---------------------------------------------------------------


def job_enqueue(
    *,
    owner: Any,
    type_name: str,
    input: Any,
    priority: str | None = None,
    webhook_url: str = "",
    run_at: datetime | None = None,
    client_address: str | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
) -> Job:
    """Check that `owner` may submit it, validate input against the job type, store the job, and
    publish it once the row is committed."""
    job_type = get_job_type(type_name)
    job_submission_authorize(owner, job_type, priority, client_address)
    return _job_insert(
        owner=owner, job_type=job_type, input=input, priority=priority, webhook_url=webhook_url, run_at=run_at,
        client_address=client_address, idempotency_key=idempotency_key, request_fingerprint=request_fingerprint,
    )


def _job_insert(
    *, owner: Any, job_type, input: Any, priority: str | None = None, webhook_url: str = "",
    run_at: datetime | None = None, client_address: str | None = None, idempotency_key: str | None = None,
    request_fingerprint: str = "",
) -> Job:
    """job_enqueue after its authorization: validate, store with its audit event, publish on commit."""
    data = job_type.validate_input(input)
    scheduled = run_at is not None and run_at > timezone.now()
    job = Job(
        type=job_type.name,
        owner=owner,
        input=sensitive.input_encrypt(job_type.input_model, data.model_dump(mode="json")),
        priority=priority or job_type.default_priority,
        webhook_url=webhook_url or "",
        run_at=run_at,
        status=JobStatus.SCHEDULED if scheduled else JobStatus.PENDING,
        max_attempts=job_type.retry.max_attempts,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
    )
    audit = audit_event(
        actor=owner, action="job.enqueue", job=job, client_address=client_address,
        details={"type": job.type, "priority": job.priority},
    )
    _insert_together(job, audit)
    if not scheduled:
        transaction.on_commit(partial(job_publish, job.id, 1, job.priority))
    return job


def job_submission_authorize(owner: Any, job_type, priority: str | None, client_address: str | None) -> None:
    """Raise ActionForbidden (HTTP 403) when `owner` may not submit `job_type` at `priority`; the
    refusal is audited. Outside any transaction, so that the audit row stays."""
    refusal = submission_refusal(owner, job_type, priority)
    if refusal is None:
        return
    audit_record(actor=owner, action="job.submit_refused", target=job_type.name, client_address=client_address,
                 details={"type": job_type.name, "priority": priority, "reason": refusal})
    raise ActionForbidden(refusal)


def _insert_together(*new_rows) -> None:
    """Insert new rows atomically: on PostgreSQL as one statement (the INSERTs as data-modifying
    CTEs, no BEGIN/COMMIT round trips), elsewhere as a transaction."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for row in new_rows:
                row.save(force_insert=True)
        return
    shape = tuple((type(row), row.pk is None) for row in new_rows)
    if shape not in _insert_statements:
        _insert_statements[shape] = _insert_statement(new_rows)
    sql, fields_per_row = _insert_statements[shape]
    # The values as the ORM's INSERT prepares them (pre_save fills auto_now_add and the like).
    params = [field.get_db_prep_save(field.pre_save(row, True), connection)
              for row, fields in zip(new_rows, fields_per_row) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    for row in new_rows:
        row._state.adding, row._state.db = False, connection.alias


# The statement depends only on the rows' models (and whether their keys are generated by the
# database); compiling it is most of the cost of a submit's INSERT, so it is compiled once.
_insert_statements: dict[tuple, tuple[str, list]] = {}


def _insert_statement(new_rows) -> tuple[str, list]:
    statements, fields_per_row = [], []
    for row in new_rows:
        fields = [f for f in row._meta.local_concrete_fields if not (f.primary_key and row.pk is None)]
        query = InsertQuery(type(row))
        query.insert_values(fields, [row])
        [(sql, params)] = query.get_compiler(connection.alias).as_sql()
        # Reused with fresh values, the statement must take every value as a parameter (a field
        # with a database default or an expression value would be compiled into the SQL).
        if len(params) != len(fields):
            raise ValueError(f"The INSERT of {type(row).__name__} has values in its SQL; it cannot be compiled once.")
        statements.append(sql)
        fields_per_row.append(fields)
    *first, last = statements
    ctes = ", ".join(f"row_{n} AS ({sql})" for n, sql in enumerate(first))
    return f"WITH {ctes} {last}", fields_per_row


def job_enqueue_idempotent(*, owner: Any, idempotency_key: str, request_fingerprint: str, **submission) -> tuple[Job, bool]:
    """job_enqueue behind an Idempotency-Key: the same key and request from the same owner within
    24 hours returns the original job (created=False); the same key with a different request
    raises IdempotencyKeyReused. Concurrent duplicates create one job: the unique (owner, key)
    constraint lets exactly one INSERT win, and the others read the winner."""
    job_type = get_job_type(submission.pop("type_name"))
    # Before the transaction below, whose rollback would take the refusal's audit row with it.
    job_submission_authorize(owner, job_type, submission.get("priority"), submission.get("client_address"))
    existing = _job_for_idempotency_key(owner, idempotency_key)
    if existing is None:
        try:
            with transaction.atomic():
                job = _job_insert(
                    owner=owner, job_type=job_type, idempotency_key=idempotency_key,
                    request_fingerprint=request_fingerprint, **submission,
                )
            return job, True
        except IntegrityError:
            existing = Job.objects.get(owner=owner, idempotency_key=idempotency_key)
    if existing.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused()
    return existing, False


def _job_for_idempotency_key(owner: Any, key: str) -> Job | None:
    job = Job.objects.filter(owner=owner, idempotency_key=key).first()
    if job is not None and job.created_at < timezone.now() - IDEMPOTENCY_KEY_TTL:
        # Expired: free the key for a new request.
        Job.objects.filter(id=job.id, idempotency_key=key).update(idempotency_key=None)
        return None
    return job


def job_publish(job_id: str, attempt: int, priority: str, countdown: float | None = None) -> bool:
    """Hand "run job X, attempt N" to the broker and record that it was dispatched.

    A broker that is down costs nothing but time: the job stays undispatched in the database and
    the dispatcher publishes it again.
    """
    from .tasks import run_job

    try:
        run_job.apply_async((job_id, attempt), countdown=countdown, **job_route(priority))
    except Exception:
        logger.warning("Could not publish job %s attempt %s; the dispatcher will retry.", job_id, attempt, exc_info=True)
        return False
    _mark_dispatched(job_id)
    return True


def _mark_dispatched(job_id: str) -> None:
    """The UPDATE after every publish, written out (the ORM would compile it for each request)."""
    set_sql, set_params = _set_clause(Job, {"dispatched_at": timezone.now()})
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_names().job_table} SET {set_sql} WHERE id = %s AND dispatched_at IS NULL", [*set_params, job_id]
        )


def jobs_dispatch_due(now: datetime | None = None, limit: int = 500) -> int:
    """Publish what is due: scheduled jobs whose run_at has come, and jobs whose publish was lost."""
    now = now or timezone.now()
    published = 0
    due_ids = Job.objects.filter(status=JobStatus.SCHEDULED, run_at__lte=now).values_list("id", flat=True)[:limit]
    for job_id in list(due_ids):
        if move_jobs(RELEASE, Job.objects.filter(id=job_id)):
            job = Job.objects.only("attempts", "priority").get(id=job_id)
            published += job_publish(job_id, job.attempts + 1, job.priority)

    grace = now - timedelta(seconds=settings.JOBS_DISPATCH_GRACE_SECONDS)
    lost = Job.objects.filter(dispatched_at__isnull=True).filter(
        Q(status=JobStatus.PENDING, created_at__lt=grace) | Q(status=JobStatus.RETRYING, next_retry_at__lt=grace)
    )
    for job_id, attempts, priority in list(lost.values_list("id", "attempts", "priority")[:limit]):
        published += job_publish(job_id, attempts + 1, priority)
    return published + jobs_redispatch_lost_messages(now, limit)


def jobs_redispatch_lost_messages(now: datetime, limit: int = 500) -> int:
    """Publish again jobs whose message the broker lost (a Redis restart without persistence, a
    failover). The evidence: a queue holding fewer messages than jobs that have waited on it for
    longer than JOBS_REDISPATCH_SECONDS. A job that did have its message gets two; the second is
    dropped at claim, so a false alarm costs one UPDATE per job."""
    from .selectors import broker_queue_lengths

    stale = now - timedelta(seconds=settings.JOBS_REDISPATCH_SECONDS)
    overdue = Job.objects.filter(dispatched_at__lt=stale).filter(
        Q(status=JobStatus.PENDING) | Q(status=JobStatus.RETRYING, next_retry_at__lt=stale)
    )
    # One grouped count per tick; the broker is asked only when some job is overdue at all.
    overdue_by_priority = dict(overdue.values_list("priority").annotate(n=Count("id")).order_by())
    if not overdue_by_priority:
        return 0
    # On RabbitMQ every priority shares one queue: its length is compared with all of them.
    priorities_by_queue = defaultdict(list)
    for priority in overdue_by_priority:
        priorities_by_queue[job_route(priority)["queue"]].append(priority)
    published = 0
    lengths = broker_queue_lengths()
    for queue, priorities in priorities_by_queue.items():
        in_broker = lengths.get(queue)
        if in_broker is None or in_broker >= sum(overdue_by_priority[p] for p in priorities):
            continue
        waiting = overdue.filter(priority__in=priorities).values_list("id", "attempts", "priority")
        for job_id, attempts, priority in list(waiting[:limit]):
            if job_publish(job_id, attempts + 1, priority):
                Job.objects.filter(id=job_id).update(dispatched_at=timezone.now())
                published += 1
    if published:
        logger.warning("Re-published %s jobs whose broker messages were lost.", published)
    return published


def jobs_reap_stalled(now: datetime | None = None, limit: int = 500) -> int:
    """Running jobs whose heartbeat stopped (worker killed, machine gone) become a new attempt,
    or fail with "worker lost" when their attempts are used up."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOBS_STALL_TIMEOUT)
    stalled = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    # A batch parent is quiet by design while its children run: bring it up to date instead.
    for parent_id in list(stalled.filter(children__isnull=False).values_list("id", flat=True).distinct()[:limit]):
        job_batch_refresh(parent_id)
    stalled = stalled.filter(children__isnull=True)
    reaped = 0
    for job_id, attempt in list(stalled.values_list("id", "attempts")[:limit]):
        error = {
            "error_type": "jobs.errors.WorkerLost",
            "error_message": f"Worker lost: no heartbeat for {settings.JOBS_STALL_TIMEOUT} s during attempt {attempt}.",
            "traceback": "",
        }
        job = Job.objects.only("max_attempts", "priority").get(id=job_id)
        with transaction.atomic():
            fenced = Job.objects.filter(id=job_id, attempts=attempt, heartbeat_at__lt=cutoff)
            if attempt < job.max_attempts:
                done = move_jobs(
                    LOSE_AND_RETRY, fenced, next_retry_at=now, dispatched_at=None, heartbeat_at=None,
                    error_type=error["error_type"], error_message=error["error_message"],
                )
                if done:
                    transaction.on_commit(partial(job_publish, job_id, attempt + 1, job.priority))
            else:
                done = move_jobs(
                    LOSE_AND_FAIL, fenced, completed_at=now,
                    error_type=error["error_type"], error_message=error["error_message"],
                )
            if done:
                JobAttempt.objects.filter(job_id=job_id, number=attempt, finished_at__isnull=True).update(
                    outcome=JobAttempt.Outcome.LOST, finished_at=now, **error
                )
                job = Job.objects.get(id=job_id)
                if job.status == LOSE_AND_RETRY.target:
                    events.job_changed(job)
                else:
                    _announce_finished(job)
                reaped += 1
    if reaped:
        logger.warning("Reaped %s stalled jobs.", reaped)
    return reaped


# --- running: called by the worker, fenced by the attempt number -----------------


@reconnect_once
def job_claim(job_id: str, attempt: int, *, worker: str = "", pid: int | None = None) -> Job | None:
    """Take attempt `attempt` of a waiting job: the job becomes running and gets an attempt row.
    None when it is not this message's to run (a duplicate, a stale redelivery, or a job cancelled
    meanwhile). The job comes back with `owner_is_active` read alongside it."""
    now = timezone.now()
    changes = dict(attempts=attempt, heartbeat_at=now, next_retry_at=None, progress=0, progress_message="")
    if connection.vendor == "postgresql":
        job = _claim_in_one_statement(job_id, attempt, changes, worker, pid)
    else:
        waiting = Job.objects.filter(id=job_id, attempts=attempt - 1)
        with transaction.atomic():
            started_at = Coalesce("started_at", Value(now, output_field=DateTimeField()))
            if not move_jobs(CLAIM, waiting, **changes, started_at=started_at):
                return None
            JobAttempt.objects.create(job_id=job_id, number=attempt, worker=worker, pid=pid, started_at=now)
        job = Job.objects.annotate(owner_is_active=F("owner__is_active")).get(id=job_id)
    if job is not None:
        # "running" is news only for a job that runs a while: one that finishes within the
        # coalescing window sends just its terminal event.
        events.job_changed(job, hold=settings.JOBS_PROGRESS_MIN_INTERVAL)
    return job


# The worker's two statements per attempt, written out for PostgreSQL: composing them through the
# ORM cost more CPU than running them. Values are adapted by the models' own fields.


def _claim_in_one_statement(job_id: str, attempt: int, changes: dict, worker: str, pid: int | None) -> Job | None:
    """The claim's UPDATE, the attempt row's INSERT and the read back, in one round trip."""
    n = _names()
    set_sql, set_params = _set_clause(Job, {"status": CLAIM.target, **changes})
    sql = f"""
        WITH claimed AS (
            UPDATE {n.job_table} SET {set_sql}, started_at = COALESCE(started_at, %s)
            WHERE id = %s AND attempts = %s AND status IN ({_placeholders(CLAIM.sources)})
            RETURNING {n.job_columns}
        ), attempt_row AS (
            INSERT INTO {n.attempt_table}
                (job_id, number, worker, pid, outcome, started_at, error_type, error_message, traceback)
            SELECT id, attempts, %s, %s, %s, heartbeat_at, '', '', '' FROM claimed
        )
        SELECT claimed.*, owner.{n.user_active} AS owner_is_active
        FROM claimed JOIN {n.user_table} owner ON owner.{n.user_pk} = claimed.owner_id
    """
    params = [*set_params, changes["heartbeat_at"], job_id, attempt - 1, *CLAIM.sources, worker, pid, JobAttempt.Outcome.RUNNING]
    return _fetch_job(sql, params)


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


def _finish_attempt(job_id: str, attempt: int, move: Move, job_changes: dict, attempt_changes: dict) -> Job | None:
    """End attempt `attempt` of a running job with `move` (complete, retry or fail): move the job
    (fenced by status and attempt) and close its attempt row. Returns the job as it now is; None
    when fenced out, and then only the attempt row is closed, as cancelled or lost. On PostgreSQL
    the common case is one statement, so it needs no transaction of its own."""
    if connection.vendor == "postgresql":
        job = _finish_in_one_statement(job_id, attempt, move, job_changes, attempt_changes)
    else:
        with transaction.atomic():
            job = None
            if move_jobs(move, Job.objects.filter(id=job_id, attempts=attempt), **job_changes):
                JobAttempt.objects.filter(job_id=job_id, number=attempt).update(**attempt_changes)
                job = Job.objects.get(id=job_id)
    if job is None:
        JobAttempt.objects.filter(job_id=job_id, number=attempt).update(
            **{**attempt_changes, "outcome": _fenced_outcome(job_id)}
        )
    return job


def _finish_in_one_statement(job_id: str, attempt: int, move: Move, job_changes: dict, attempt_changes: dict) -> Job | None:
    """The job's fenced UPDATE, the attempt row's UPDATE (only when the first matched) and the read
    back, in one round trip."""
    n = _names()
    job_set, job_params = _set_clause(Job, {"status": move.target, **job_changes})
    attempt_set, attempt_params = _set_clause(JobAttempt, attempt_changes)
    sql = f"""
        WITH finished AS (
            UPDATE {n.job_table} SET {job_set}
            WHERE id = %s AND status IN ({_placeholders(move.sources)}) AND attempts = %s RETURNING {n.job_columns}
        ), closed AS (
            UPDATE {n.attempt_table} SET {attempt_set}
            WHERE job_id = %s AND number = %s AND EXISTS (SELECT FROM finished)
        )
        SELECT * FROM finished
    """
    params = [*job_params, job_id, *move.sources, attempt, *attempt_params, job_id, attempt]
    return _fetch_job(sql, params)


def _fetch_job(sql: str, params: list) -> Job | None:
    """Run a statement (PostgreSQL) whose row is the job's columns (`rows.columns(Job)`), then
    any extra columns, which become attributes of the job."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        job, extras = rows.model_from_row(Job, row)
        for column, value in zip(cursor.description[-len(extras):] if extras else (), extras):
            setattr(job, column.name, value)
    return job


class _Names(NamedTuple):
    job_table: str
    job_columns: str
    attempt_table: str
    user_table: str
    user_pk: str
    user_active: str


@functools.cache
def _names() -> _Names:
    """Quoted table and column names for the statements above."""
    quote, user = connection.ops.quote_name, get_user_model()._meta
    return _Names(
        job_table=quote(Job._meta.db_table),
        # Columns named, not *: a prepared statement must keep its result type across a migration.
        job_columns=rows.columns(Job),
        attempt_table=quote(JobAttempt._meta.db_table),
        user_table=quote(user.db_table),
        user_pk=quote(user.pk.column),
        user_active=quote(user.get_field("is_active").column),
    )


def _set_clause(model, changes: dict) -> tuple[str, list]:
    """`column = %s, ...` for an UPDATE, with the values prepared by the model's fields."""
    sql, fields = _set_columns(model, tuple(changes))
    return sql, [field.get_db_prep_save(value, connection) for field, value in zip(fields, changes.values())]


@functools.cache
def _set_columns(model, names: tuple[str, ...]) -> tuple[str, tuple]:
    fields = tuple(model._meta.get_field(name) for name in names)
    return ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields), fields


def _ending(has_listeners: bool):
    """A terminal transition and what its listeners write (jobs.hooks) commit together; with no
    listener for the job there is nothing to join, and the transition commits on its own."""
    return transaction.atomic() if has_listeners else nullcontext()


def _running(job_id: str, attempt: int):
    return Job.objects.filter(id=job_id, status=JobStatus.RUNNING, attempts=attempt)


def fenced_out_error(job_id: str) -> Exception:
    """Why a fenced write matched nothing: the job was cancelled, or this attempt was superseded."""
    status = Job.objects.filter(id=job_id).values_list("status", flat=True).first()
    return JobCancelled() if status == JobStatus.CANCELLED else AttemptSuperseded()


def _close_attempt(job_id: str, attempt: int, outcome: str, duration_ms: int, error: dict | None = None) -> None:
    JobAttempt.objects.filter(job_id=job_id, number=attempt).update(
        outcome=outcome, finished_at=timezone.now(), duration_ms=duration_ms, **(error or {})
    )


def _announce_finished(job: Job) -> None:
    """A terminal transition, inside its transaction, with the job as it now is: run the job-end
    listeners (jobs.hooks: the webhook outbox), and once committed push the final state live and
    let a batch parent count this child."""
    hooks.job_ended(job)
    events.job_changed(job)
    if job.parent_id:
        transaction.on_commit(partial(job_batch_refresh, job.parent_id))


@reconnect_once
def job_report_progress(job: Job, attempt: int, percent: int, message: str, at: float | None = None) -> None:
    """Persist progress (and a heartbeat) and tell the job's followers; raise JobCancelled or
    AttemptSuperseded when fenced out. `at`: when the handler reported it."""
    message = message[:200]
    if not _running(job.id, attempt).update(progress=percent, progress_message=message, heartbeat_at=timezone.now()):
        raise fenced_out_error(job.id)
    job.progress, job.progress_message = percent, message
    events.job_changed(job, at=at)


@reconnect_once
def job_heartbeat(job_id: str, attempt: int) -> bool:
    """The worker still holds this attempt; False once it no longer does (cancelled, superseded)."""
    return bool(_running(job_id, attempt).update(heartbeat_at=timezone.now()))


@reconnect_once
def job_attach_result(job_id: str, attempt: int, name: str) -> None:
    if not _running(job_id, attempt).update(result_file=name):
        raise fenced_out_error(job_id)


@reconnect_once
def job_complete(
    job_id: str, attempt: int, output: Any, duration_ms: int, progress_message: str = "", has_listeners: bool = True
) -> bool:
    """The attempt succeeded. `has_listeners=False` (the runner asks jobs.hooks about the claimed
    job) lets PostgreSQL skip the transaction that a listener's writes would share."""
    now = timezone.now()
    with _ending(has_listeners):
        job = _finish_attempt(
            job_id,
            attempt,
            COMPLETE,
            dict(output=output, progress=100, progress_message=progress_message[:200],
                 completed_at=now, heartbeat_at=now, error_type="", error_message=""),
            dict(outcome=JobAttempt.Outcome.COMPLETED, finished_at=now, duration_ms=duration_ms),
        )
        if job is None:
            return False
        _announce_finished(job)
    return True


@reconnect_once
def job_retry_later(job_id: str, attempt: int, error: dict, delay: float, duration_ms: int) -> bool:
    """The attempt hit a transient error: wait `delay` seconds, then run attempt + 1."""
    now = timezone.now()
    job = _finish_attempt(
        job_id,
        attempt,
        RETRY,
        dict(next_retry_at=now + timedelta(seconds=delay), error_type=error["error_type"],
             error_message=error["error_message"], dispatched_at=None, heartbeat_at=None),
        dict(outcome=JobAttempt.Outcome.RETRYING, finished_at=now, duration_ms=duration_ms, **error),
    )
    if job is None:
        return False
    events.job_changed(job)
    transaction.on_commit(partial(job_publish, job_id, attempt + 1, job.priority, countdown=delay))
    return True


@reconnect_once
def job_fail(job_id: str, attempt: int, error: dict, duration_ms: int, has_listeners: bool = True) -> bool:
    now = timezone.now()
    with _ending(has_listeners):
        job = _finish_attempt(
            job_id,
            attempt,
            FAIL,
            dict(completed_at=now, heartbeat_at=now, error_type=error["error_type"],
                 error_message=error["error_message"]),
            dict(outcome=JobAttempt.Outcome.FAILED, finished_at=now, duration_ms=duration_ms, **error),
        )
        if job is None:
            return False
        _announce_finished(job)
    return True


@reconnect_once
def job_attempt_cancelled(job_id: str, attempt: int, duration_ms: int) -> None:
    """The handler stopped because the job was cancelled while it ran; the job row already says so."""
    _close_attempt(job_id, attempt, JobAttempt.Outcome.CANCELLED, duration_ms)


def _fenced_outcome(job_id: str) -> str:
    return (
        JobAttempt.Outcome.CANCELLED
        if isinstance(fenced_out_error(job_id), JobCancelled)
        else JobAttempt.Outcome.LOST
    )


# --- operator and owner actions -------------------------------------------------


def job_cancel(job: Job, *, actor: Any, client_address: str | None = None) -> Job:
    """Cancel a waiting job at once; a running one is marked cancelled and its handler stops at
    its next progress() call. A finished job cannot be cancelled (JobStateConflict, HTTP 409).
    Its owner may cancel it, and so may operators with jobs.cancel_job (else ActionForbidden)."""
    if actor.pk != job.owner_id and not is_operator(actor, CANCEL_JOBS):
        raise ActionForbidden(f"Cancelling another user's job needs the permission {CANCEL_JOBS}.")
    now = timezone.now()
    with transaction.atomic():
        if not move_jobs(CANCEL, Job.objects.filter(id=job.id), completed_at=now, next_retry_at=None):
            job.refresh_from_db(fields=["status"])
            raise JobStateConflict(f"Job {job.id} is {job.status} and can no longer be cancelled.")
        # A batch's children that have not started are cancelled with it, and their followers told;
        # running ones stop at their next progress() call only if cancelled themselves, so they are
        # left to finish.
        waiting_children = Job.objects.filter(parent_id=job.id, status__in=WAITING_STATUSES)
        if move_jobs(CANCEL, waiting_children, completed_at=now, next_retry_at=None):
            for child in Job.objects.filter(parent_id=job.id, status=CANCEL.target, completed_at=now):
                events.job_changed(child)
        audit_record(actor=actor, action="job.cancel", job=job, client_address=client_address)
        job.refresh_from_db()
        _announce_finished(job)
    return job


def job_replay(job: Job, *, actor: Any, client_address: str | None = None, input: Any = None) -> bool:
    """Run a failed or cancelled job again, with a fresh budget of attempts (and, optionally, edited
    input validated by its job type). One conditional UPDATE: of two concurrent replays of the same
    job, exactly one starts a run; the other returns False."""
    job_type = get_job_type(job.type)
    changes: dict[str, Any] = {}
    if input is not None:
        changes["input"] = sensitive.input_encrypt(job_type.input_model, job_type.validate_input(input).model_dump(mode="json"))
    with transaction.atomic():
        replayed = move_jobs(
            REPLAY,
            Job.objects.filter(id=job.id, attempts=job.attempts),
            max_attempts=job.attempts + job_type.retry.max_attempts,
            error_type="",
            error_message="",
            output=None,
            progress=0,
            progress_message="",
            completed_at=None,
            next_retry_at=None,
            dispatched_at=None,
            discarded_at=None,
            **changes,
        )
        if not replayed:
            return False
        audit_record(
            actor=actor,
            action="job.replay_edited" if input is not None else "job.replay",
            job=job,
            client_address=client_address,
            details={"from_status": job.status, "after_attempt": job.attempts, **({"input": changes["input"]} if changes else {})},
        )
        events.job_changed(Job.objects.get(id=job.id))
        transaction.on_commit(partial(job_publish, job.id, job.attempts + 1, job.priority))
    return True


def job_discard(job: Job, *, actor: Any, client_address: str | None = None) -> bool:
    """Take a failed job out of the dead-letter queue; it is kept, and the discard is audited."""
    with transaction.atomic():
        discarded = Job.objects.filter(id=job.id, status=JobStatus.FAILED, discarded_at__isnull=True).update(
            discarded_at=timezone.now()
        )
        if discarded:
            audit_record(actor=actor, action="job.discard", job=job, client_address=client_address)
    return bool(discarded)


# --- batches: a parent job fans out into children and completes when they all have -----


def job_spawn_children(parent: Job, attempt: int, type_name: str, inputs: list[dict], priority: str | None = None) -> int:
    """Create a batch's children in bulk and publish them. Done once per parent: a parent re-run
    after a lost worker finds its children and creates none. Returns the number of children."""
    job_type = get_job_type(type_name)
    validated = [job_type.validate_input(raw).model_dump(mode="json") for raw in inputs]
    with transaction.atomic():
        if not _running(parent.id, attempt).exists():
            raise fenced_out_error(parent.id)
        existing = Job.objects.filter(parent_id=parent.id).count()
        if existing:
            return existing
        children = Job.objects.bulk_create(
            [
                Job(type=job_type.name, owner_id=parent.owner_id, input=data, priority=priority or parent.priority,
                    parent_id=parent.id, max_attempts=job_type.retry.max_attempts)
                for data in validated
            ],
            batch_size=500,
        )
        # Each child is audited like any submission, as its parent's owner's, naming the parent.
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(actor_id=parent.owner_id, action="job.enqueue", job=child, target=child.id,
                           details={"type": child.type, "priority": child.priority, "parent": parent.id})
                for child in children
            ],
            batch_size=500,
        )
        transaction.on_commit(partial(jobs_publish_new, [child.id for child in children]))
    return len(children)


def jobs_publish_new(job_ids: list[str]) -> None:
    """Publish first attempts of many jobs, then mark them dispatched in one UPDATE."""
    from .tasks import run_job

    priorities = dict(Job.objects.filter(id__in=job_ids).values_list("id", "priority"))
    published = []
    for job_id in job_ids:
        try:
            run_job.apply_async((job_id, 1), **job_route(priorities[job_id]))
            published.append(job_id)
        except Exception:
            logger.warning("Could not publish job %s; the dispatcher will retry.", job_id, exc_info=True)
            break
    Job.objects.filter(id__in=published, dispatched_at__isnull=True).update(dispatched_at=timezone.now())


@reconnect_once
def job_await_children(job_id: str, attempt: int, output: Any, duration_ms: int) -> None:
    """The parent's handler has spawned its children: its attempt is over, the job stays running
    (its output kept aside) until the last child finishes."""
    with transaction.atomic():
        if not _running(job_id, attempt).update(output=output, heartbeat_at=timezone.now()):
            raise fenced_out_error(job_id)
        _close_attempt(job_id, attempt, JobAttempt.Outcome.COMPLETED, duration_ms)
    job_batch_refresh(job_id)


def job_batch_refresh(parent_id: str) -> None:
    """Bring a running batch parent up to date: progress is the share of children finished; when
    every child is terminal the parent completes, its output counting the children's outcomes and
    summing the numbers in their outputs (e.g. sent, skipped, failed)."""
    counts = dict(Job.objects.filter(parent_id=parent_id).values_list("status").annotate(n=Count("id")).order_by())
    total = sum(counts.values())
    finished = sum(n for status, n in counts.items() if status in TERMINAL_STATUSES)
    if not total:
        return
    now = timezone.now()
    running = Job.objects.filter(id=parent_id, status=JobStatus.RUNNING)
    if finished < total:
        if running.filter(progress__lt=100 * finished // total).update(
            progress=100 * finished // total, progress_message=f"{finished}/{total} parts finished", heartbeat_at=now
        ):
            events.job_changed(Job.objects.get(id=parent_id))
        return
    parent = running.only("output").first()
    if parent is None:
        return
    output = dict(parent.output or {})
    for child_output in Job.objects.filter(parent_id=parent_id, status=JobStatus.COMPLETED).values_list("output", flat=True):
        for key, value in (child_output or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                output[key] = output.get(key, 0) + value
    output["parts"] = {status: counts.get(status, 0) for status in sorted(TERMINAL_STATUSES)}
    with transaction.atomic():
        if move_jobs(COMPLETE, Job.objects.filter(id=parent_id), output=output, progress=100, completed_at=now,
                     heartbeat_at=now, progress_message=f"{total}/{total} parts finished"):
            _announce_finished(Job.objects.get(id=parent_id))
