"""End-to-end throughput: no-op jobs through the whole engine against plain Celery, same run.

    .venv/bin/python bench/e2e_throughput.py [--jobs 2000] [--concurrency 2]

Three contestants drain N queued items on identical worker settings (prefork with 2 processes or
--concurrency, prefetch 1, acks_late, same broker): raw Celery no-op tasks (the ceiling); our
engine's diagnostics.sleep
with 0 seconds (row, publish, claim, run, complete, attempt row, live events); and a Celery task
with django-celery-results and task_track_started (how Django teams usually track task state).
Items are queued first, then a worker starts; the rate is N / (last done - worker ready).
"""
from __future__ import annotations

import argparse
import time

from harness import environment, start_worker, wait_until, write_result


def drain(worker_kwargs: dict, done, count: int) -> float:
    worker = start_worker(**worker_kwargs)
    ready = time.monotonic()
    try:
        finished = wait_until(lambda: done() >= count, timeout=600, interval=0.05)
    finally:
        worker.stop()
    return count / (finished - ready)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes, for all three")
    args = parser.parse_args()
    n, processes = args.jobs, args.concurrency

    with environment():
        import redis
        from django.conf import settings
        from django_celery_results.models import TaskResult

        from bench import baseline_celery as baseline
        from harness import bench_user
        from jobs.models import Job, JobStatus
        from jobs.engine.submission import job_enqueue

        counter = redis.Redis.from_url(settings.REDIS_URL)
        baseline_worker = {"queues": (baseline.QUEUE,), "concurrency": processes}

        counter.delete(baseline.COUNTER)
        for _ in range(n):
            baseline.raw_noop.delay()
        raw = drain({**baseline_worker, "app": "bench.baseline_celery:raw"}, lambda: int(counter.get(baseline.COUNTER) or 0), n)

        user = bench_user()
        started = time.monotonic()
        for _ in range(n):
            job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0})
        enqueue_rate = n / (time.monotonic() - started)
        completed = Job.objects.filter(owner=user, status=JobStatus.COMPLETED)
        engine = drain({"concurrency": processes}, completed.count, n)

        TaskResult.objects.all().delete()
        counter.delete(baseline.COUNTER)
        for _ in range(n):
            baseline.tracked_noop.delay()
        tracked = drain(
            {**baseline_worker, "app": "bench.baseline_celery:tracked"},
            lambda: TaskResult.objects.filter(status="SUCCESS").count(),
            n,
        )

    figures = {
        "jobs": n,
        "worker_processes": processes,
        "raw_celery_per_s": round(raw, 1),
        "engine_per_s": round(engine, 1),
        "celery_results_tracked_per_s": round(tracked, 1),
        "engine_vs_raw": round(engine / raw, 3),
        "engine_vs_tracked": round(engine / tracked, 3),
        "engine_enqueue_per_s_one_process": round(enqueue_rate, 1),
    }
    write_result(
        "e2e_throughput" if processes == 2 else f"e2e_throughput-c{processes}",
        figures,
        [
            ("items drained", str(n)),
            ("worker processes (prefork -c)", str(processes)),
            ("raw Celery no-op", f"{raw:.0f}/s"),
            ("our engine (diagnostics.sleep 0 s)", f"{engine:.0f}/s"),
            ("Celery + django-celery-results + track_started", f"{tracked:.0f}/s"),
            ("engine / raw Celery (goal >= 0.5)", f"{engine / raw:.2f}"),
            ("engine / Celery+results (goal > 1)", f"{engine / tracked:.2f}"),
            ("job_enqueue from one process", f"{enqueue_rate:.0f}/s"),
        ],
    )


if __name__ == "__main__":
    main()
