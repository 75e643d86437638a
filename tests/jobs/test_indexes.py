"""The job tables' indexes on PostgreSQL (migrations 0011 and 0012): every index is written at each submit,
claim and end of a job, so the tables carry only those the reads use, and each read still finds one."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from jobs.models import AuditEvent, Job, JobAttempt

pytestmark = pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL's indexes"
)

JOB_INDEXES = {
    "jobs_job_pkey", "job_owner_recent", "job_status_created", "job_created", "job_completed", "job_dead_letters",
    "job_children", "one_job_per_idempotency_key", "jobs_job_type_6a80b3ef", "jobs_job_schedule_key_key",
    "jobs_job_schedule_key_13f44ec6_like",
}
ATTEMPT_INDEXES = {"jobs_jobattempt_pkey", "one_row_per_attempt", "attempt_started", "attempt_finished"}
AUDIT_INDEXES = {"jobs_auditevent_pkey", "jobs_auditevent_action_86916ffa", "jobs_auditevent_actor_id_473c16a9",
                 "jobs_auditevent_created_at_9c2eebd7", "jobs_auditevent_job_id_2d3739ed"}


def indexes(model) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [model._meta.db_table])
        return {name for (name,) in cursor.fetchall()}


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the tables are nearly empty here
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row for (row,) in cursor.fetchall())


@pytest.mark.django_db
def test_the_job_tables_carry_only_the_indexes_their_reads_use():
    assert indexes(Job) == JOB_INDEXES
    assert indexes(JobAttempt) == ATTEMPT_INDEXES
    assert indexes(AuditEvent) == AUDIT_INDEXES


def found_by_index(queryset, column: str) -> bool:
    text = plan(queryset)
    return "Seq Scan" not in text and f"Cond: ({column} " in text


@pytest.mark.django_db
def test_the_reads_whose_index_was_dropped_use_another():
    assert found_by_index(Job.objects.filter(owner_id=1).order_by(), "owner_id")
    assert "job_children" in plan(Job.objects.filter(parent_id="x").order_by())
    assert "job_children" in plan(Job.objects.filter(parent_id__in=["x", "y"]).order_by())
    assert "one_row_per_attempt" in plan(JobAttempt.objects.filter(job_id="x").order_by())
    assert "one_row_per_attempt" in plan(JobAttempt.objects.filter(job_id__in=["x", "y"]).order_by())


@pytest.mark.django_db(transaction=True)
def test_the_migration_goes_back_and_forth():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    latest = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "jobs"]
    executor.migrate([("jobs", "0010_dead_letter_tally")])
    try:
        back = indexes(Job), indexes(JobAttempt), indexes(AuditEvent)
    finally:
        MigrationExecutor(connection).migrate(latest)
    assert {"jobs_job_owner_id_4c884775", "jobs_job_id_e5bc7a75_like", "jobs_job_parent_id_675bb714"} <= back[0]
    assert "job_children" not in back[0]
    assert {"jobs_jobattempt_job_id_05797094", "jobs_jobattempt_job_id_05797094_like"} <= back[1]
    assert {"jobs_auditevent_action_86916ffa_like", "jobs_auditevent_job_id_2d3739ed_like"} <= back[2]
    assert indexes(Job) == JOB_INDEXES and indexes(JobAttempt) == ATTEMPT_INDEXES
    assert indexes(AuditEvent) == AUDIT_INDEXES
