"""Recovery at the default settings: the time from SIGKILL of the worker running a job to the start
of the job's next attempt on another worker, and a rolling restart of every worker under load.

    DATABASE_URL=... REDIS_URL=... [CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672//] \\
        .venv/bin/python bench/recovery.py [--kills 5] [--jobs 2000]

Kills: two workers (-c 1) and beat; a 60 s job starts on one, whose whole process group is killed;
the time is from the kill to the next attempt's start (its row's started_at). Rolling restart:
three workers (-c 2) and a steady stream of short jobs with side effects; each worker in turn gets
SIGTERM (the default 60 s grace; unfinished jobs are handed back) and a new one starts; at the end,
jobs lost, side effects done twice, jobs completed twice, and how long each worker took to stop.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402


def time_to_next_attempt(kills: int) -> list[float]:
    from django.utils import timezone

    from jobs.engine import actions
    from jobs.engine.submission import job_enqueue
    from jobs.models import JobAttempt
    from tests.support import BeatProcess

    user = harness.bench_user()
    beat = BeatProcess(os.environ["DATABASE_URL"], harness.VAR).start()
    workers = [harness.start_worker(concurrency=1) for _ in range(2)]
    took = []
    try:
        for _ in range(kills):
            job = job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 60, "steps": 60})
            harness.wait_until(lambda: JobAttempt.objects.filter(job_id=job.id, number=1).exists(), 30)
            first = JobAttempt.objects.get(job_id=job.id, number=1)
            victim = next(w for w in workers if first.worker.startswith(w.log_path.stem + "@"))
            killed_at = timezone.now()
            victim.kill()
            workers.remove(victim)
            harness.wait_until(lambda: JobAttempt.objects.filter(job_id=job.id, number=2).exists(), 120, 0.1)
            second = JobAttempt.objects.get(job_id=job.id, number=2)
            took.append((second.started_at - killed_at).total_seconds())
            print(f"  next attempt {took[-1]:.1f} s after the kill", flush=True)
            job.refresh_from_db()
            actions.job_cancel(job, actor=user)
            workers.append(harness.start_worker(concurrency=1))
            time.sleep(2)  # the cancelled attempt notices within a progress step
    finally:
        for process in [*workers, beat]:
            process.kill()
    return took


def rolling_restart(jobs: int) -> dict:
    from django.db.models import Count

    from diagnostics.models import DiagnosticsEffect
    from jobs.engine.submission import job_enqueue
    from jobs.models import TERMINAL_STATUSES, Job, JobAttempt, JobStatus
    from tests.support import BeatProcess

    user = harness.bench_user()
    beat = BeatProcess(os.environ["DATABASE_URL"], harness.VAR).start()
    workers = [harness.start_worker(concurrency=2) for _ in range(3)]
    ids: list[str] = []
    done = threading.Event()

    def submit():
        from django.db import connection

        for n in range(jobs):
            ids.append(job_enqueue(owner=user, type_name="diagnostics.sleep",
                                   input={"seconds": 0.5 if n % 5 == 0 else 0.05, "record_effect": True}).id)
            time.sleep(0.01)
        connection.close()
        done.set()

    stops = []
    submitter = threading.Thread(target=submit)
    submitter.start()
    try:
        time.sleep(3)
        for old in list(workers):
            started = time.monotonic()
            old.stop(timeout=120)  # SIGTERM
            stops.append(round(time.monotonic() - started, 1))
            workers.remove(old)
            workers.append(harness.start_worker(concurrency=2))
            print(f"  worker restarted (stopped in {stops[-1]} s)", flush=True)
        submitter.join()
        harness.wait_until(lambda: Job.objects.filter(id__in=ids, status__in=TERMINAL_STATUSES).count() == len(ids), 300, 0.5)
    finally:
        for process in [*workers, beat]:
            process.kill()
    twice = (JobAttempt.objects.filter(job_id__in=ids, outcome="completed").values("job_id")
             .annotate(n=Count("id")).filter(n__gt=1).count())
    outcomes = dict(JobAttempt.objects.filter(job_id__in=ids).values_list("outcome").annotate(n=Count("id")).order_by())
    return {
        "jobs": len(ids),
        "completed": Job.objects.filter(id__in=ids, status=JobStatus.COMPLETED).count(),
        "lost": Job.objects.filter(id__in=ids).exclude(status=JobStatus.COMPLETED).count(),
        "effects": DiagnosticsEffect.objects.filter(job_id__in=ids).count(),
        "completed_twice": twice,
        "attempts_by_outcome": outcomes,
        "worker_stop_seconds": stops,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    with harness.environment():
        print("Kill -9 of the worker running a job:", flush=True)
        took = time_to_next_attempt(args.kills)
        print("Rolling restart under load:", flush=True)
        rolling = rolling_restart(args.jobs)
    harness.write_result(
        "recovery",
        {"kill_to_next_attempt_seconds": took, "rolling_restart": rolling},
        [
            (f"kill -9 to next attempt ({len(took)} kills)",
             f"median {statistics.median(took):.1f} s, max {max(took):.1f} s (goal <= 15 s)"),
            ("rolling restart: jobs / completed / lost", f"{rolling['jobs']} / {rolling['completed']} / {rolling['lost']}"),
            ("rolling restart: side effects / completed twice", f"{rolling['effects']} / {rolling['completed_twice']}"),
            ("rolling restart: attempts by outcome", ", ".join(f"{k} {v}" for k, v in sorted(rolling["attempts_by_outcome"].items()))),
            ("rolling restart: each worker stopped in (s)", ", ".join(map(str, rolling["worker_stop_seconds"]))),
        ],
    )


if __name__ == "__main__":
    main()
