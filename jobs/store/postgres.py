"""The store on PostgreSQL: each write of the hot path is one statement, written out (composing
them through the ORM cost more CPU than running them). Values are adapted by the models' own
fields (jobs.store.rows); the states come from the declared moves."""
from __future__ import annotations

import functools
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection

from ..engine.transitions import CLAIM, Move
from ..models import Job, JobAttempt
from . import rows
from .base import Store


class PostgresStore(Store):
    name = "postgresql"

    def insert_together(self, *new_rows):
        rows.insert_in_one_statement(*new_rows)

    def claim(self, job_id, attempt, changes, worker, pid):
        """The claim's UPDATE, the attempt row's INSERT and the read back, in one round trip. Its
        commit does not wait for the disk: a claim lost in a crash is made again later, under a new
        claim id that fences out every write of the first (docs/reliability.md)."""
        n = _names()
        set_sql, set_params = rows.set_clause(Job, {"status": CLAIM.target, **changes})
        sql = f"""
            WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true)),
            claimed AS (
                UPDATE {n.job_table} SET {set_sql}, started_at = COALESCE(started_at, %s)
                WHERE id = %s AND attempts = %s AND status IN ({_placeholders(CLAIM.sources)})
                RETURNING {n.job_columns}
            ), attempt_row AS (
                INSERT INTO {n.attempt_table}
                    (job_id, number, claim_id, worker, pid, outcome, started_at, error_type, error_message, traceback)
                SELECT id, attempts, claim_id, %s, %s, %s, heartbeat_at, '', '', '' FROM claimed
            )
            SELECT claimed.*, owner.{n.user_active} AS owner_is_active
            FROM claimed JOIN {n.user_table} owner ON owner.{n.user_pk} = claimed.owner_id, no_flush_wait
        """
        params = [*set_params, changes["heartbeat_at"], job_id, attempt - 1, *CLAIM.sources,
                  worker, pid, JobAttempt.Outcome.RUNNING]
        return _fetch_job(sql, params, extra_columns=("owner_is_active",))

    def finish(self, job_id, attempt, claim_id, move: Move, job_changes, attempt_changes):
        """The job's fenced UPDATE, the attempt row's UPDATE (only when the first matched) and the
        read back, in one round trip."""
        n = _names()
        job_set, job_params = rows.set_clause(Job, {"status": move.target, **job_changes})
        attempt_set, attempt_params = rows.set_clause(JobAttempt, attempt_changes)
        sql = f"""
            WITH finished AS (
                UPDATE {n.job_table} SET {job_set}
                WHERE id = %s AND status IN ({_placeholders(move.sources)}) AND attempts = %s AND claim_id = %s
                RETURNING {n.job_columns}
            ), closed AS (
                UPDATE {n.attempt_table} SET {attempt_set}
                WHERE job_id = %s AND number = %s AND EXISTS (SELECT FROM finished)
            )
            SELECT * FROM finished
        """
        params = [*job_params, job_id, *move.sources, attempt, _uuid(claim_id), *attempt_params, job_id, attempt]
        return _fetch_job(sql, params)

    def mark_dispatched(self, job_id, at):
        set_sql, set_params = rows.set_clause(Job, {"dispatched_at": at})
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_names().job_table} SET {set_sql} WHERE id = %s AND dispatched_at IS NULL", [*set_params, job_id]
            )


def _uuid(value):
    assert value is not None, "a worker's write names its claim"
    return Job._meta.get_field("claim_id").get_db_prep_value(value, connection)


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


def _fetch_job(sql: str, params: list, extra_columns: tuple[str, ...] = ()) -> Job | None:
    """Run a statement whose row is the job's columns (`rows.columns(Job)`), then `extra_columns`,
    which become attributes of the job. (Named here: psycopg builds `cursor.description` anew for
    every statement, a tenth of a claim's CPU.)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    job, extras = rows.model_from_row(Job, row)
    assert len(extras) == len(extra_columns), (extra_columns, extras)
    for name, value in zip(extra_columns, extras):
        setattr(job, name, value)
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
