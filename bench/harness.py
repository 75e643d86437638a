"""Shared pieces of the benchmarks: the service's processes, as production runs them, and results.

Uses DATABASE_URL / REDIS_URL when set (the figures that matter: PostgreSQL and Redis), otherwise
a SQLite file under var/bench and the embedded Redis.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VAR = ROOT / "var" / "bench"
sys.path.insert(0, str(ROOT))


@contextmanager
def environment():
    """Database migrated, Redis up, Django set up in this process, the queues empty and the bench
    user without jobs; yields the user's API token."""
    from config import embedded_redis

    VAR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    if not os.environ.get("JOBS_ENCRYPTION_KEYS"):
        from cryptography.fernet import Fernet

        os.environ["JOBS_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()  # this run's processes only
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'bench.sqlite3'}")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    # e2e_throughput.py's baseline stores Celery's results with django-celery-results.
    os.environ.setdefault("EXTRA_INSTALLED_APPS", "django_celery_results")
    # The per-user submit throttle would answer 429 to a load generator.
    os.environ.setdefault("JOBS_SUBMIT_RATE", "1000000/sec")
    redis = None
    if not os.environ.get("REDIS_URL"):
        redis, os.environ["REDIS_URL"] = embedded_redis.start(VAR / "redis")
    subprocess.check_call([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from tests.support import purge_queues

    purge_queues()
    from django.contrib.auth.models import Permission

    user, _ = get_user_model().objects.get_or_create(username="bench")
    # The priority benchmark submits high jobs: queue jumping is a grant.
    user.user_permissions.add(Permission.objects.get(content_type__app_label="jobs", codename="submit_high_priority"))
    # An earlier run's jobs would look like jobs whose messages were lost (their queues were
    # purged), and the dispatcher would publish them again in the middle of this run.
    forget_jobs(user)
    try:
        yield Token.objects.get_or_create(user=user)[0].key
    finally:
        if redis:
            redis.terminate()


def bench_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="bench")


def forget_jobs(user) -> None:
    """Delete the user's jobs from earlier runs, in parts (one DELETE of all of them would pass more
    parameters than PostgreSQL takes once the HTTP benchmark has made tens of thousands)."""
    from django.db import connection

    from jobs.models import AuditEvent, Job, JobAttempt

    deleted = 0
    while ids := list(Job.objects.filter(owner=user).values_list("id", flat=True)[:5000]):
        deleted += Job.objects.filter(id__in=ids).delete()[0]
    if deleted and connection.vendor == "postgresql":
        # What autovacuum would do after such a delete (it may be off on a test server): without
        # it, every later run's statements wade through the dead rows of the earlier ones.
        with connection.cursor() as cursor:
            for model in (Job, JobAttempt, AuditEvent):
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# The web tier docs/operations.md recommends: one uvicorn process per core.
WEB_WORKERS = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)


def start_server(workers: int = 1, env: dict | None = None):
    from tests.support import AsgiServer

    return AsgiServer(os.environ["DATABASE_URL"], VAR, env=env, workers=workers).start()


def start_worker(**kwargs):
    from tests.support import WorkerProcess

    return WorkerProcess(os.environ["DATABASE_URL"], VAR, **kwargs).start()


@contextmanager
def stack(worker_concurrency: int = 2):
    """The web server and a worker, for benchmarks that go through the whole service."""
    with environment() as token:
        server, worker = start_server(), start_worker(concurrency=worker_concurrency)
        try:
            yield server, token
        finally:
            worker.stop()
            server.stop()


def wait_until(predicate, timeout: float, interval: float = 0.02) -> float:
    """Poll until predicate() is true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(interval)
    return time.monotonic()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))]


def write_result(name: str, figures: dict, table: list[tuple[str, str]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "database": os.environ["DATABASE_URL"].split("://")[0],
        "broker": os.environ.get("CELERY_BROKER_URL", os.environ["REDIS_URL"]).split("://")[0],
    }
    if meta["broker"] != "redis":
        name = f"{name}-{meta['broker']}"  # keep the Redis figures beside these
    (RESULTS / f"{name}.json").write_text(json.dumps({**meta, **figures}, indent=2) + "\n")
    lines = [f"# {name}", "", f"{meta['when']} · {meta['machine']} · {meta['database']} + {meta['broker']}", "",
             "| figure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in table)]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
