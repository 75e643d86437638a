"""The performance and schema code that leans on library internals, each piece in one module with
the version it was written against: these tests fail loudly when an upgrade changes the shape of
an internal, instead of the code silently doing something else."""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from django.db import connection

from .support import ROOT


def test_the_sync_middleware_chain_override_still_applies():
    """config/asgi.py builds Django's middleware chain for sync code (Django 5.2 internals)."""
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.base import BaseHandler

    from config.asgi import SyncViewsASGIHandler

    assert "is_async" in inspect.signature(BaseHandler.load_middleware).parameters
    assert "get_response_async" in vars(BaseHandler)
    assert "self.get_response_async(" in inspect.getsource(ASGIHandler), "ASGIHandler must still route each request through it"
    call = inspect.getsource(ASGIHandler.__call__)
    assert "async with ThreadSensitiveContext():" in call and "await self.handle(scope, receive, send)" in call, (
        "SyncViewsASGIHandler.__call__ replaces exactly this: a fresh context around handle()"
    )
    handler = SyncViewsASGIHandler()
    assert handler._middleware_chain is not None
    assert not inspect.iscoroutinefunction(handler._middleware_chain), "the chain must be sync: one thread hop per request"


def test_a_served_process_freezes_what_it_loaded():
    """config/asgi.py calls gc.freeze() once the app is loaded."""
    code = "import gc, config.asgi; print(gc.get_freeze_count())"
    frozen = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert int(frozen.stdout.strip().splitlines()[-1]) > 10_000


def test_the_cache_client_internal_still_has_its_shape():
    """common/cache.py (Django 5.2's RedisCache._cache.get_client)."""
    import redis
    from django.core.cache import cache

    from common.cache import cache_redis

    assert "write" in inspect.signature(cache._cache.get_client).parameters
    assert isinstance(cache_redis("probe"), redis.Redis)


def test_the_schema_internals_still_have_their_shape():
    """jobs/api/schema.py (drf-spectacular 0.30's AutoSchema internals)."""
    from drf_spectacular.openapi import AutoSchema

    assert "direction" in inspect.signature(AutoSchema._get_response_bodies).parameters
    assert "direction" in inspect.signature(AutoSchema._get_response_for_code).parameters
    assert callable(AutoSchema._get_paginator)


@pytest.mark.django_db
def test_rows_built_by_hand_equal_the_orms(user):
    """jobs/store/rows.py (Django 5.2's Model.from_db and field converters): a job read through the
    hand-written path equals the ORM's, field by field."""
    from jobs.models import Job
    from jobs.store import rows

    job = Job.objects.create(owner=user, type="diagnostics.sleep", input={"seconds": 1}, output={"a": [1, 2]})
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rows.columns(Job)} FROM {connection.ops.quote_name(Job._meta.db_table)} WHERE id = %s", [job.id])
        built, rest = rows.model_from_row(Job, cursor.fetchone())
    orm = Job.objects.get(id=job.id)
    assert rest == ()
    assert not built._state.adding and built._state.db == connection.alias
    for field in Job._meta.concrete_fields:
        assert getattr(built, field.attname) == getattr(orm, field.attname), field.name


@pytest.mark.django_db
def test_the_insert_compiled_once_stores_what_save_would(user):
    """jobs/store/rows.py (Django 5.2's InsertQuery and instance._state): rows inserted by the
    compiled statement read back as saved, and the instances look saved."""
    from jobs.engine.audit import audit_event
    from jobs.models import AuditEvent, Job
    from jobs.store import rows

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement INSERT is PostgreSQL's")
    job = Job(owner=user, type="diagnostics.sleep", input={"seconds": 2})
    audit = audit_event(actor=user, action="job.enqueue", job=job, details={"x": 1})
    rows.insert_in_one_statement(job, audit)
    assert not job._state.adding and job._state.db == connection.alias
    stored = Job.objects.get(id=job.id)
    assert (stored.input, stored.owner_id, stored.created_at) == ({"seconds": 2}, user.id, job.created_at)
    assert AuditEvent.objects.get(job_id=job.id).details == {"x": 1}


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_the_insert_prepares_every_value_as_the_orm_does(user):
    """jobs/store/rows.py's insert_preparer (Django 5.2's fields): where it skips get_db_prep_save
    the ORM would have returned the value unchanged, for every field of the rows a submit and a
    claim insert, with the values they hold (set, None, naive and aware times, JSON, addresses)."""
    from datetime import datetime

    from django.utils import timezone

    from jobs.engine.audit import audit_event
    from jobs.models import Job, JobAttempt
    from jobs.store import rows

    now = timezone.now()
    jobs = [
        Job(owner=user, type="diagnostics.sleep", input={"seconds": 2}, run_at=now, dispatched_at=now, max_attempts=3),
        Job(owner=user, type="t", input=[], output=None, progress=5, attempts=2, run_at=datetime(2026, 1, 1, 12)),
    ]
    audits = [audit_event(actor=user, action="job.enqueue", job=jobs[0], client_address="10.0.0.1", details={"x": 1}),
              audit_event(actor=None, action="x", target="t", client_address=None)]
    attempts = [JobAttempt(job=jobs[0], number=1, worker="w", pid=7, outcome="running", started_at=now)]
    db = rows._db()
    for row in [*jobs, *audits, *attempts]:
        for field in row._meta.local_concrete_fields:
            if field.primary_key and row.pk is None:
                continue
            ours = rows.insert_preparer(field, db.vendor)(row, db)
            # (after ours: pre_save of an auto_now_add field sets a new time at every call)
            orm = field.get_db_prep_save(getattr(row, field.attname), db)
            assert type(ours) is type(orm) and getattr(ours, "obj", ours) == getattr(orm, "obj", orm), field.name


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_an_update_prepares_every_value_as_the_orm_does():
    """rows.set_clause (the claim's and the finish's SET) prepares each value as QuerySet.update
    does (get_db_prep_save), for the values the moves set: times, None, text, numbers, JSON."""
    from datetime import datetime

    from django.utils import timezone

    from jobs.models import Job, JobAttempt
    from jobs.store import rows

    now = timezone.now()
    changes = [
        (Job, dict(status="running", attempts=2, heartbeat_at=now, next_retry_at=None, progress=0, progress_message="")),
        (Job, dict(output={"a": [1, 1.5]}, completed_at=datetime(2026, 1, 1), error_type="")),
        (Job, dict(output=None, progress=True, max_attempts=3, dispatched_at=None, run_at=now.date())),
        (JobAttempt, dict(outcome="failed", finished_at=now, duration_ms=12, error_type="E", traceback="t" * 10)),
    ]
    db = rows._db()
    for model, values in changes:
        sql, ours = rows.set_clause(model, values)
        assert sql.count("%s") == len(values)
        for (name, value), prepared in zip(values.items(), ours):
            orm = model._meta.get_field(name).get_db_prep_save(value, db)
            assert type(prepared) is type(orm) and getattr(prepared, "obj", prepared) == getattr(orm, "obj", orm), name


def test_the_pool_check_recovers_when_the_server_drops_every_connection():
    """config/postgresql/base.py (psycopg-pool 3.3's pooled connection `_pool` and `check()`): with eight
    idle connections killed at once, the next borrow gets a live one instead of timing out (the
    stock check backs off 1+2+4 s, one dead connection at a time, past this pool's 5 s)."""
    import psycopg
    from psycopg_pool import ConnectionPool

    from config.postgresql.base import check_and_sweep

    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    params = {**connection.get_connection_params(), "application_name": "pool-check-test", "autocommit": True}
    params.pop("cursor_factory", None)
    pool = ConnectionPool(kwargs=params, min_size=8, max_size=8, timeout=5, check=check_and_sweep, open=True)
    try:
        pool.wait(timeout=10)
        with psycopg.connect(**params) as killer:
            killed = killer.execute(  # waits (up to 5 s) until each backend has ended
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE application_name = 'pool-check-test' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        assert killed == 8
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.close()


def test_a_connection_looks_alive_until_the_server_ends_it():
    """The pool's quick check (config/postgresql/base.py): no round trip for an idle live
    connection; a connection in a transaction, or one whose backend was terminated, is not taken
    on looks."""
    import psycopg

    from config.postgresql.base import looks_alive

    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    params = {**connection.get_connection_params(), "autocommit": True}
    params.pop("cursor_factory", None)
    with psycopg.connect(**params) as conn, psycopg.connect(**params) as killer:
        assert looks_alive(conn)
        with conn.transaction():
            assert not looks_alive(conn)
        assert looks_alive(conn)
        killer.execute("SELECT pg_terminate_backend(%s, 5000)", [conn.info.backend_pid])
        assert not looks_alive(conn)


def test_django_hands_the_pool_our_check():
    """config/postgresql/base.py (Django 5.2 builds the pool; psycopg-pool 3.3 keeps `_check`)."""
    from django.conf import settings

    from config.postgresql.base import check_and_sweep

    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"], "Django must still ask the pool to check"
    assert connection.pool._check is check_and_sweep


def test_publishing_reuses_one_redis_client_per_channel(settings):
    """config/broker.py (kombu 5.7's `Channel._create_client` and `Channel.pool`): on a Redis broker
    Celery publishes through our transport, whose channel hands out one client, not one per message."""
    from config.celery import app
    from config.broker import Channel

    if settings.BROKER_IS_AMQP:
        pytest.skip("the transport is Redis's")
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        assert isinstance(channel, Channel)
        client = channel._create_client()
        assert client.connection_pool is channel.pool
        assert channel._create_client() is client
        assert channel._create_client(asynchronous=True) is not client, "the consumer's clients stay kombu's"


@pytest.mark.parametrize("task_path, args", [
    ("jobs.tasks.run_job", ("01JOBID", 1)),
    ("jobs.tasks.run_job", ("01JOBID", 3)),
    ("notifications.tasks.deliver_webhook", (42, 2)),
])
def test_a_direct_publish_stores_the_message_celery_would(settings, task_path, args):
    """jobs/engine/direct_publish.py (Celery 5.7 protocol 2, kombu 5.7's Redis transport): the
    message it pushes equals, field by field, the one Celery's own publish stores for the same task,
    arguments and queue (only the ids differ), and lands where kombu puts it."""
    import json
    from importlib import import_module

    import redis

    from jobs.engine import direct_publish

    if settings.BROKER_IS_AMQP:
        pytest.skip("the transport is Redis's")
    module, name = task_path.rsplit(".", 1)
    task = getattr(import_module(module), name)
    queue = f"direct-publish-test-{name}"  # no worker takes from it
    assert direct_publish.direct_publish_possible()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue)
    task.apply_async(args, argsrepr=repr(args), kwargsrepr="{}", queue=queue)
    direct_publish.publish_direct(task, args, queue)
    ours, celerys = (json.loads(message) for message in client.lpop(queue, 2))
    client.delete(queue)
    for message in (ours, celerys):
        for part, field in (("headers", "id"), ("headers", "root_id"), ("properties", "correlation_id"), ("properties", "delivery_tag")):
            assert message[part].pop(field)
    assert ours == celerys


def test_a_direct_publish_is_not_used_inside_a_worker_task(settings):
    """Celery names the publishing task as the parent of a message published from inside one; the
    direct publish leaves those messages to Celery."""
    from celery import current_app

    from jobs.engine import direct_publish

    if settings.BROKER_IS_AMQP:
        pytest.skip("the transport is Redis's")
    from celery._state import _task_stack

    task = current_app.tasks["jobs.run"]
    task.push_request(called_directly=False)  # as a worker runs it
    _task_stack.push(task)
    try:
        assert not direct_publish.direct_publish_possible()
    finally:
        _task_stack.pop()
        task.pop_request()
    assert direct_publish.direct_publish_possible()


def test_a_channel_of_a_closed_connection_refuses_with_a_connection_error(settings):
    """config/broker.py: kombu 5.7 restores unacked messages while closing a connection whose
    settings it has already dropped (transport.client is None); our channel answers with a
    connection error, which the worker ignores while it reconnects, instead of the AttributeError
    it died of."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from config.celery import app

    if settings.BROKER_IS_AMQP:
        pytest.skip("the transport is Redis's")
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        assert RedisConnectionError in conn.connection_errors
        transport_client, channel.connection.client = channel.connection.client, None
        try:
            for asynchronous in (False, True):
                with pytest.raises(RedisConnectionError):
                    channel._create_client(asynchronous=asynchronous)
        finally:
            channel.connection.client = transport_client


def test_the_worker_still_lists_its_running_requests_with_name_and_args():
    """jobs/worker.py (Celery 5.x): the main process reads `celery.worker.state.active_requests`,
    whose requests have `.name`, `.args` and `.id` (the message's, which the child claimed the job
    with), to vouch for its children's jobs and hand them back."""
    from celery.worker import state
    from celery.worker.request import Request

    assert hasattr(state, "active_requests") and hasattr(state.active_requests, "__iter__")
    assert "name" in Request.__slots__, "the task's name, set from the message"
    assert isinstance(Request.args, property)
    assert "id" in Request.__slots__, "the message's id"
