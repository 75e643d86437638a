"""Scale: the read paths and the nightly cleanup with a large history in PostgreSQL.

Seeds N finished jobs owned by one user (one attempt and one audit event each; one in twenty
failed, one in fifty with a delivered webhook and its try), spread evenly over twice the retention
period, with SQL in chunks. Then times, through Django's test client in this process (median and p95 of --requests
after one warm-up): GET /metrics, the ops dashboard JSON, the admin job list, the admin dead
letters with a filter, GET /api/jobs/?page_size=50 as the owner of all of them, and one
evaluation of the alert rules. Last, runs the cleanup (about half the history has expired) while
a thread submits jobs through the API, and records the cleanup's time and the slowest submit.

Needs a PostgreSQL database of its own (the name must start with "bench"): seeding a different
N empties the job tables first.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_scale REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/scale.py --jobs 100000
"""
from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

HISTORY_USER = "scale-history"
CHUNK = 100_000
TYPES = ("reports.csv", "email.send", "diagnostics.sleep", "reports.pdf")


def seed(jobs: int, retention_days: int) -> float:
    """Replace the job history with `jobs` finished jobs; returns the seconds it took."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    owner, _ = get_user_model().objects.get_or_create(username=HISTORY_USER)
    started = time.monotonic()
    with connection.cursor() as cursor:
        # (The rollups and the dead-letter tally too, where this version has them: the script also
        # runs on older ones.)
        tables = ["jobs_job", "jobs_jobattempt", "jobs_auditevent", "jobs_deadlettertally", "notifications_webhookdelivery",
                  "notifications_webhookattempt", "ops_metrictotal", "ops_metricminute", "ops_metricsfolded"]
        cursor.execute(f"TRUNCATE {', '.join(t for t in tables if t in connection.introspection.table_names())} CASCADE")
        span = f"{2 * retention_days} days"
        types = "ARRAY[" + ",".join(f"'{t}'" for t in TYPES) + "]"
        for first in range(1, jobs + 1, CHUNK):
            last = min(jobs, first + CHUNK - 1)
            # Job i finished at now - (N - i) / N * span: ids (zero-padded, older than any ULID the
            # service makes) grow with time, as the service's do.
            cursor.execute(
                f"""
                INSERT INTO jobs_job (id, type, status, priority, owner_id, input, output, progress,
                    progress_message, error_type, error_message, result_file, attempts, max_attempts,
                    created_at, run_at, dispatched_at, started_at, heartbeat_at, next_retry_at,
                    completed_at, webhook_url, parent_id, idempotency_key, request_fingerprint,
                    schedule_key, discarded_at)
                SELECT '00' || lpad(i::text, 24, '0'), ({types})[1 + i %% {len(TYPES)}],
                    CASE WHEN i %% 20 = 0 THEN 'failed' ELSE 'completed' END,
                    (ARRAY['normal', 'normal', 'normal', 'low', 'high'])[1 + i %% 5], %s, '{{}}',
                    CASE WHEN i %% 20 = 0 THEN NULL ELSE '{{}}'::jsonb END, 100, '',
                    CASE WHEN i %% 20 = 0 THEN 'RuntimeError' ELSE '' END,
                    CASE WHEN i %% 20 = 0 THEN 'seeded failure' ELSE '' END, '', 1, 1,
                    t, NULL, t, t + interval '2 ms', t + interval '2 ms', NULL,
                    t + (2 + i %% 997) * interval '1 ms',
                    CASE WHEN i %% 50 = 0 THEN 'https://receiver.example/hook' ELSE '' END,
                    NULL, NULL, '', NULL, NULL
                FROM generate_series(%s::bigint, %s::bigint) AS i,
                    LATERAL (SELECT now() - ({jobs} - i)::float / {jobs} * interval '{span}' AS t) AS at
                """,
                [owner.id, first, last],
            )
            cursor.execute(
                """
                INSERT INTO jobs_jobattempt (job_id, number, worker, pid, outcome, started_at,
                    finished_at, duration_ms, error_type, error_message, traceback)
                SELECT id, 1, 'seeded', NULL, status, started_at, completed_at,
                    (extract(epoch FROM completed_at - started_at) * 1000)::int, error_type,
                    error_message, ''
                FROM jobs_job WHERE id BETWEEN %s AND %s
                """,
                ["00" + str(first).zfill(24), "00" + str(last).zfill(24)],
            )
            cursor.execute(
                """
                INSERT INTO notifications_webhookdelivery (webhook_id, job_id, event_type, url, payload,
                    status, attempts, max_attempts, created_at, next_attempt_at, claimed_at, finished_at)
                SELECT 'msg_' || id, id, 'job.' || status, webhook_url, '{}'::jsonb, 'delivered', 1, 8,
                    completed_at, NULL, completed_at, completed_at + interval '30 ms'
                FROM jobs_job WHERE webhook_url <> '' AND id BETWEEN %s AND %s
                """,
                ["00" + str(first).zfill(24), "00" + str(last).zfill(24)],
            )
            # Each job's submission left an audit event (the cleanup keeps it, without its job).
            cursor.execute(
                """
                INSERT INTO jobs_auditevent (actor_id, action, job_id, target, client_address, details, created_at)
                SELECT owner_id, 'job.enqueue', id, '', '10.0.0.1',
                    jsonb_build_object('type', type, 'priority', priority), created_at
                FROM jobs_job WHERE id BETWEEN %s AND %s
                """,
                ["00" + str(first).zfill(24), "00" + str(last).zfill(24)],
            )
            print(f"  seeded {last:,} jobs", flush=True)
        cursor.execute(
            """
            INSERT INTO notifications_webhookattempt (delivery_id, number, started_at, duration_ms,
                status_code, response_excerpt, error, will_retry)
            SELECT id, 1, claimed_at, 30, 200, '', '', false FROM notifications_webhookdelivery
            """
        )
    try:  # the seeded dead letters' tally rows, folded as the service's readers fold them
        from jobs.selectors import dead_letter_tally_fold
    except ImportError:
        pass  # a version before the tally
    else:
        dead_letter_tally_fold()
    # As autovacuum leaves a table that has lived a while: statistics, and the visibility map
    # that lets a count read an index alone.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def history_size() -> int:
    from jobs.models import Job

    return Job.objects.filter(owner__username=HISTORY_USER).count()


def time_requests(call, requests: int) -> dict:
    call()  # warm-up: caches, prepared statements, the pool
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return {"median_ms": round(statistics.median(seconds) * 1000, 1),
            "p95_ms": round(harness.percentile(seconds, 0.95) * 1000, 1)}


def first_fold() -> float | None:
    """The metrics' first fold after seeding (an upgrade's first scrape reads the history once)."""
    try:
        from ops.models import MetricsFolded, MetricTotal
        from ops.rollups import fold
    except ImportError:
        return None  # a version before the rollups

    if MetricsFolded.objects.filter(through__isnull=False).exists() and MetricTotal.objects.filter(
            name="enqueued", count__gte=1).exists():
        return None
    started = time.monotonic()
    fold()
    seconds = round(time.monotonic() - started, 1)
    print(f"  first fold of the history: {seconds} s", flush=True)
    return seconds


def read_paths(requests: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from ops.alerts import alerts_evaluate

    operator, created = get_user_model().objects.get_or_create(
        username="scale-operator", defaults={"is_staff": True, "is_superuser": True})
    admin = Client(HTTP_HOST="127.0.0.1")
    admin.force_login(operator)
    owner_token = Token.objects.get_or_create(user=get_user_model().objects.get(username=HISTORY_USER))[0].key
    api = Client(HTTP_AUTHORIZATION=f"Token {owner_token}", HTTP_HOST="127.0.0.1")

    def get(client, path):
        def call():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            response.content  # noqa: B018 - the whole body, as a client reads it
        return call

    paths = {
        "GET /metrics": get(admin, "/metrics"),
        "ops dashboard JSON": get(admin, "/admin/ops/alert/dashboard/data/"),
        "alert evaluation": alerts_evaluate,
        "admin job list": get(admin, "/admin/jobs/job/"),
        "admin dead letters (type filter)": get(admin, f"/admin/jobs/deadletter/?type__exact={TYPES[0]}"),
        "GET /api/jobs/?page_size=50": get(api, "/api/jobs/?page_size=50"),
    }
    figures = {}
    for name, call in paths.items():
        figures[name] = time_requests(call, requests)
        print(f"  {name}: {figures[name]}", flush=True)
    return figures


def submit_forever(url: str, token: str, stop, started, results) -> None:
    """One submit after another, 10 ms apart, until `stop`; sends the (latency in seconds, start
    time) of each and how many came before `started` was set. Runs in a process of its own: in one process with the
    cleanup, the cleanup's pauses (its garbage collection, the GIL) were timed as the server's."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    body = {"type": "diagnostics.sleep", "input": {"seconds": 0}}
    submits: list[float] = []
    before = None
    while not stop.is_set():
        if before is None and started.is_set():
            before = len(submits)
        began, at = time.perf_counter(), time.time()
        response = session.post(f"{url}/api/jobs/", json=body, timeout=30)
        submits.append((time.perf_counter() - began, at))
        assert response.status_code == 202, response.text
        time.sleep(0.01)
    results.send((submits, len(submits) if before is None else before))


def cleanup_under_load(token: str, retention_days: int, batch: int | None, quiet_seconds: float) -> dict:
    """The cleanup of expired history while a client (a process of its own) submits jobs one
    after another to a web server of its own (a separate process, as in production). The same
    client submits for `quiet_seconds` before the cleanup starts: on a shared machine some submits
    take over 100 ms with no cleanup at all, and that rate is what the cleanup's is compared with."""
    import multiprocessing

    from schedules.services import jobs_cleanup

    server = harness.start_server()
    context = multiprocessing.get_context("spawn")
    stop, cleanup_started = context.Event(), context.Event()
    receive, send = context.Pipe(duplex=False)
    submitter = context.Process(target=submit_forever, args=(server.url, token, stop, cleanup_started, send))
    submitter.start()
    try:
        time.sleep(quiet_seconds)
        cleanup_started.set()
        started = time.monotonic()
        result = jobs_cleanup(retention_days=retention_days, **({"batch": batch} if batch else {}))
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        submits, before = receive.recv()
        submitter.join()
        server.stop()
    slowest = max(submits[before:], default=None)
    quiet, during = [s for s, _ in submits[:before]], [s for s, _ in submits[before:]]
    from django.conf import settings

    figures = {
        "rest": settings.JOBS_CLEANUP_REST,
        "removed_jobs": result["removed_jobs"],
        "seconds": round(elapsed, 1),
        "jobs_per_second": round(result["removed_jobs"] / elapsed) if elapsed else None,
        "submits_during": len(during),
        "submit_p50_ms_before": round(statistics.median(quiet) * 1000, 1) if quiet else None,
        "submit_p50_ms": round(statistics.median(during) * 1000, 1) if during else None,
        "submit_p99_ms": round(harness.percentile(during, 0.99) * 1000, 1) if during else None,
        "submit_max_ms": round(max(during) * 1000, 1) if during else None,
        "submits_over_100_ms": sum(1 for seconds in during if seconds > 0.1),
        "submits_before": len(quiet),
        "submits_over_100_ms_before": sum(1 for seconds in quiet if seconds > 0.1),
        "submit_max_ms_before": round(max(quiet) * 1000, 1) if quiet else None,
        # To set beside the database's log (a checkpoint, say).
        "submit_max_started_at": datetime.fromtimestamp(slowest[1], timezone.utc).isoformat() if slowest else None,
    }
    print(f"  cleanup: {figures}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="finished jobs in the history")
    parser.add_argument("--requests", type=int, default=7, help="timed requests per read path")
    parser.add_argument("--no-cleanup", action="store_true", help="time the read paths only (keeps the history)")
    parser.add_argument("--quiet-seconds", type=float, default=120, help="submits timed before the cleanup, to compare with")
    parser.add_argument("--cleanup-batch", type=int, help="jobs per cleanup transaction (default: the cleanup's own)")
    args = parser.parse_args()
    database = os.environ.get("DATABASE_URL", "")
    if not database.startswith("postgres") or not database.rsplit("/", 1)[-1].startswith("bench"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database of the benchmark's own (its name starting with 'bench').")

    with harness.environment() as token:
        from django.conf import settings

        retention = settings.JOBS_RETENTION_DAYS
        seeded = None
        if history_size() != args.jobs:
            print(f"Seeding {args.jobs:,} finished jobs ...", flush=True)
            seeded = round(seed(args.jobs, retention), 1)
        print(f"Read paths with {args.jobs:,} finished jobs:", flush=True)
        figures = {"jobs": args.jobs, "seed_seconds": seeded, "first_fold_seconds": first_fold()}
        figures["read_paths"] = read_paths(args.requests)
        if not args.no_cleanup:
            figures["cleanup"] = cleanup_under_load(token, retention, args.cleanup_batch, args.quiet_seconds)
        harness.forget_jobs(harness.bench_user())

    table = [("first fold of the history (once, after an upgrade)", f"{figures['first_fold_seconds']} s")]
    table += [(f"{name} (median / p95)", f"{f['median_ms']} / {f['p95_ms']} ms") for name, f in figures["read_paths"].items()]
    if "cleanup" in figures:
        c = figures["cleanup"]
        table += [("cleanup: jobs removed (resting JOBS_CLEANUP_REST x each batch's time)", f"{c['removed_jobs']:,} ({c['rest']})"),
                  ("cleanup: seconds (jobs/s)", f"{c['seconds']} ({c['jobs_per_second']}/s)"),
                  ("submits before the cleanup, no cleanup running (p50 / slowest)",
                   f"{c['submits_before']:,} ({c['submit_p50_ms_before']} / {c['submit_max_ms_before']} ms)"),
                  ("of them over 100 ms (the machine's own stalls)", str(c["submits_over_100_ms_before"])),
                  ("submits during the cleanup (p50 / p99 / slowest)",
                   f"{c['submit_p50_ms']} / {c['submit_p99_ms']} / {c['submit_max_ms']} ms"),
                  ("submits during the cleanup, of them over 100 ms", f"{c['submits_during']:,}, {c['submits_over_100_ms']}"),
                  ("the slowest submit started at", str(c["submit_max_started_at"]))]
    harness.write_result(f"scale-{args.jobs}", figures, table)


if __name__ == "__main__":
    main()
