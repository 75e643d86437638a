"""End-to-end throughput: no-op jobs through the whole engine against plain Celery, same run.

    .venv/bin/python bench/e2e_throughput.py [--jobs 2000] [--concurrency 2] [--rounds 3]

Three contestants drain N queued items on identical worker settings (prefork with 2 processes or
--concurrency, prefetch 1, acks_late, same broker): raw Celery no-op tasks (the ceiling); our
engine's diagnostics.sleep
with 0 seconds (row, publish, claim, run, complete, attempt row, live events); and a Celery task
with django-celery-results and task_track_started (how Django teams usually track task state).
Items are queued first, then a worker starts; the rate is N / (last done - worker ready). Raw
Celery and the engine drain in turn (--rounds, 3); the ratio is the median of the rounds' ratios.
"""
from __future__ import annotations

import argparse
import time
from statistics import median

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
    parser.add_argument("--rounds", type=int, default=3, help="raw Celery and the engine drain in turn, this many times")
    args = parser.parse_args()
    n, processes = args.jobs, args.concurrency

    with environment():
        import redis
        from django.conf import settings
        from django_celery_results.models import TaskResult

        from bench import baseline_celery as baseline
        from harness import bench_user, forget_jobs
        from jobs.models import TERMINAL_STATUSES, Job, JobStatus
        from jobs.engine.submission import job_enqueue

        counter = redis.Redis.from_url(settings.REDIS_URL)
        baseline_worker = {"queues": (baseline.QUEUE,), "concurrency": processes}
        user = bench_user()

        def raw_round() -> float:
            counter.delete(baseline.COUNTER)
            for _ in range(n):
                baseline.raw_noop.delay()
            return drain({**baseline_worker, "app": "bench.baseline_celery:raw"}, lambda: int(counter.get(baseline.COUNTER) or 0), n)

        def engine_round() -> tuple[float, float]:
            forget_jobs(user)
            started = time.monotonic()
            for _ in range(n):
                job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0})
            enqueue_rate = n / (time.monotonic() - started)
            # Polled every 50 ms: ask the status index whether any is left, not count them all,
            # which cost the machine more than the raw drain's Redis counter.
            unfinished = Job.objects.filter(owner=user).exclude(status__in=TERMINAL_STATUSES)
            rate = drain({"concurrency": processes}, lambda: 0 if unfinished.exists() else n, n)
            completed = Job.objects.filter(owner=user, status=JobStatus.COMPLETED).count()
            assert completed == n, f"{completed} of {n} jobs completed"
            return rate, enqueue_rate

        # In turns, so that a slow minute of a shared machine weighs on both alike.
        raws, engines, enqueue_rates = [], [], []
        for _ in range(args.rounds):
            raws.append(raw_round())
            engine, enqueue_rate = engine_round()
            engines.append(engine)
            enqueue_rates.append(enqueue_rate)
        raw, engine, enqueue_rate = median(raws), median(engines), median(enqueue_rates)

        TaskResult.objects.all().delete()
        counter.delete(baseline.COUNTER)
        for _ in range(n):
            baseline.tracked_noop.delay()
        tracked = drain(
            {**baseline_worker, "app": "bench.baseline_celery:tracked"},
            lambda: TaskResult.objects.filter(status="SUCCESS").count(),
            n,
        )

    ratios = [e / r for r, e in zip(raws, engines)]
    figures = {
        "jobs": n,
        "worker_processes": processes,
        "rounds": args.rounds,
        "raw_celery_per_s": round(raw, 1),
        "engine_per_s": round(engine, 1),
        "celery_results_tracked_per_s": round(tracked, 1),
        "engine_vs_raw": round(median(ratios), 3),
        "engine_vs_tracked": round(engine / tracked, 3),
        "engine_enqueue_per_s_one_process": round(enqueue_rate, 1),
        "raw_celery_per_s_each_round": [round(r, 1) for r in raws],
        "engine_per_s_each_round": [round(e, 1) for e in engines],
    }
    write_result(
        "e2e_throughput" if processes == 2 else f"e2e_throughput-c{processes}",
        figures,
        [
            ("items drained", f"{n} per round, {args.rounds} rounds (raw Celery and the engine in turn)"),
            ("worker processes (prefork -c)", str(processes)),
            ("raw Celery no-op (median; each round)", f"{raw:.0f}/s; " + ", ".join(f"{r:.0f}" for r in raws)),
            ("our engine, diagnostics.sleep 0 s (median; each round)", f"{engine:.0f}/s; " + ", ".join(f"{e:.0f}" for e in engines)),
            ("Celery + django-celery-results + track_started", f"{tracked:.0f}/s"),
            ("engine / raw Celery, median of the rounds' ratios (goal >= 0.5)",
             f"{median(ratios):.2f} (" + ", ".join(f"{x:.2f}" for x in ratios) + ")"),
            ("engine / Celery+results (goal > 1)", f"{engine / tracked:.2f}"),
            ("job_enqueue from one process", f"{enqueue_rate:.0f}/s"),
        ],
    )


if __name__ == "__main__":
    main()
