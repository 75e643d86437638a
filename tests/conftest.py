from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from jobs.models import TERMINAL_STATUSES, Job

from .browser import CHROMIUM, CHROMIUM_ARGS
from .support import AsgiServer, ServiceProcess, WorkerProcess, database_url, purge_queues, wait_for


# The worker sends webhooks to receivers on loopback, with a schedule of 3 quick tries; the test
# process itself keeps the SSRF guard on.
WORKER_ENV = {
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
    "WEBHOOK_RETRY_DELAYS": "0.2,0.2",
    "WEBHOOK_RETRY_JITTER": "0",
    "WEBHOOK_TIMEOUT": "1",
    # The session's worker stops within a second at the end, handing back a job a test left running.
    "JOBS_SHUTDOWN_GRACE_SECONDS": "1",
}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """Before the session's last teardown, the session's worker and web server get SIGTERM
    together: their fixtures then wait for both at once, not for one after the other."""
    if nextitem is None:
        ServiceProcess.begin_stopping_all()


@pytest.fixture(scope="session")
def worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real Celery worker for the session, on the test database and the configured broker."""
    purge_queues()
    worker = WorkerProcess(database_url(connections["default"].settings_dict), tmp_path_factory.mktemp("worker"), env=WORKER_ENV)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, tmp_path_factory):
    """uvicorn serving the project on the test database; heartbeats are shortened to 1 s."""
    server = AsgiServer(
        database_url(connections["default"].settings_dict),
        tmp_path_factory.mktemp("asgi"),
        env={"JOBS_SSE_HEARTBEAT_SECONDS": "1", "ALLOWED_HOSTS": "127.0.0.1,localhost",
             "WHITENOISE_USE_FINDERS": "1"},  # the admin's CSS, for the browser tests' screenshots
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live(asgi_server, worker):
    """A running web server and worker, for tests that go through real sockets."""
    return asgi_server


@pytest.fixture
def worker(worker_process, transactional_db):
    """Tests that cross the worker commit their data, so that the worker process can see it."""
    return worker_process


@pytest.fixture
def browser():
    """Chromium under Playwright's sync API. List it after every fixture that uses the ORM: its event
    loop runs in the test thread, where Django then refuses database calls."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)


def store_names() -> list[str]:
    """The stores the engine can run on here: both on PostgreSQL, the portable one elsewhere."""
    return ["postgresql", "portable"] if connections["default"].vendor == "postgresql" else ["portable"]


@pytest.fixture(params=store_names())
def store(request):
    """Runs the test once per store (jobs.store): the engine must behave the same on each."""
    from jobs.store import STORES, using

    with using(STORES[request.param]()) as chosen:
        yield chosen


@pytest.fixture
def user(db):
    return make_user("alice")


@pytest.fixture
def other_user(db):
    return make_user("bob")


@pytest.fixture
def staff_user(db):
    return make_user("operator", is_staff=True, is_superuser=True)


def make_operator(username: str, group: str | None, **extra):
    """A staff account in one of the console's groups (ops/migrations/0002_operator_groups), or in
    none. The groups are made again when a transactional test's flush removed them."""
    user = make_user(username, is_staff=True, **extra)
    if group is not None:
        if not Group.objects.filter(name=group).exists():
            import_module("ops.migrations.0002_operator_groups").create_groups(django_apps, None)
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def bare_staff(db):
    """Staff, and not one permission: sees and does nothing."""
    return make_operator("bare-staff", None)


@pytest.fixture
def viewer(db):
    return make_operator("viewer", "Job viewers")


@pytest.fixture
def operator(db):
    return make_operator("console-operator", "Job operators")


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def api(user):
    return token_client(user)


@pytest.fixture
def other_api(other_user):
    return token_client(other_user)


@pytest.fixture
def staff_api(staff_user):
    return token_client(staff_user)


def wait_for_job(job_id: str, statuses=TERMINAL_STATUSES, timeout: float = 60.0) -> Job:
    return wait_for(
        lambda: Job.objects.filter(id=job_id, status__in=statuses).first(),
        timeout=timeout,
        message=f"job {job_id} to reach {sorted(statuses)}",
    )
