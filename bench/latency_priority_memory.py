"""Enqueue-to-start latency on an idle worker, high jobs' wait behind 1,000 normal ones (each
20 ms; the high jobs are submitted one by one, at random points of the normal jobs running), and
worker memory over 10,000 jobs.

    .venv/bin/python bench/latency_priority_memory.py [--samples 200] [--backlog 1000] [--high-jobs 20] [--memory-jobs 10000]
"""
from __future__ import annotations

import argparse
import random
import time

import psutil

from harness import environment, percentile, start_worker, wait_until, write_result


def worker_rss_mb(worker) -> float:
    main = psutil.Process(worker.process.pid)
    return sum(p.memory_info().rss for p in [main, *main.children(recursive=True)]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--high-jobs", type=int, default=20, help="high jobs submitted one by one during the backlog")
    parser.add_argument("--memory-jobs", type=int, default=10_000)
    args = parser.parse_args()

    with environment():
        from harness import bench_user, forget_jobs
        from jobs.models import Job, JobAttempt, JobStatus
        from jobs.engine.submission import job_enqueue
        from jobs.engine.dispatch import jobs_publish_new

        user = bench_user()
        worker = start_worker(concurrency=2)
        try:
            # 1. Enqueue-to-start on an idle worker, one job at a time.
            delays = []
            for _ in range(args.samples):
                job = job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0})
                wait_until(lambda: Job.objects.filter(id=job.id, status=JobStatus.COMPLETED).exists(), 10, 0.002)
                job.refresh_from_db()
                delays.append((job.started_at - job.created_at).total_seconds() * 1000)

            # 2. A high job behind a backlog of normal ones (each sleeps 20 ms).
            backlog = [job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0.02}).id
                       for _ in range(args.backlog)]
            high_waits_ms, waiting_behind = [], []
            for _ in range(args.high_jobs):
                time.sleep(random.uniform(0, 0.03))  # arrive at any point of the running normal jobs
                high = job_enqueue(owner=user, type_name="diagnostics.sleep", input={"seconds": 0}, priority="high")
                wait_until(lambda: Job.objects.filter(id=high.id, status=JobStatus.COMPLETED).exists(), 120, 0.005)
                high.refresh_from_db()
                high_waits_ms.append((high.started_at - high.created_at).total_seconds() * 1000)
                waiting_behind.append(Job.objects.filter(id__in=backlog).exclude(status=JobStatus.COMPLETED).count())
            normal_ms = [a.duration_ms for a in JobAttempt.objects.filter(job_id__in=backlog, outcome="completed")[:200]]
            wait_until(lambda: Job.objects.filter(id__in=backlog, status=JobStatus.COMPLETED).count() == len(backlog), 300, 0.2)

            # 3. Worker memory: RSS after 1,000 and after all no-op jobs (created in bulk batches).
            forget_jobs(user)
            done = Job.objects.filter(owner=user, status=JobStatus.COMPLETED)
            rss = {}
            for milestone in (1000, args.memory_jobs):
                while Job.objects.filter(owner=user).count() < milestone:
                    batch = Job.objects.bulk_create(
                        [Job(owner=user, type="diagnostics.sleep", input={"seconds": 0}, max_attempts=5) for _ in range(500)]
                    )
                    jobs_publish_new([job.id for job in batch])
                wait_until(lambda: done.count() >= milestone, 900, 0.2)
                rss[milestone] = worker_rss_mb(worker)
        finally:
            worker.stop()

    growth = (rss[args.memory_jobs] - rss[1000]) / rss[1000]
    figures = {
        "enqueue_to_start_p50_ms": round(percentile(delays, 0.5), 2),
        "enqueue_to_start_p99_ms": round(percentile(delays, 0.99), 2),
        "high_job_wait_ms_p50": round(percentile(high_waits_ms, 0.5), 1),
        "high_job_wait_ms_max": round(max(high_waits_ms), 1),
        "high_job_waits_ms": [round(w, 1) for w in high_waits_ms],
        "normal_job_length_ms_p50": percentile(normal_ms, 0.5) if normal_ms else None,
        "normal_jobs_still_waiting_when_each_high_started": waiting_behind,
        "worker_rss_mb_at_1000": round(rss[1000], 1),
        f"worker_rss_mb_at_{args.memory_jobs}": round(rss[args.memory_jobs], 1),
        "worker_rss_growth": round(growth, 4),
    }
    write_result(
        "latency_priority_memory",
        figures,
        [
            ("enqueue-to-start p50 (goal <= 10 ms)", f"{figures['enqueue_to_start_p50_ms']} ms"),
            ("enqueue-to-start p99 (goal <= 50 ms)", f"{figures['enqueue_to_start_p99_ms']} ms"),
            (f"high jobs' wait behind a backlog of {args.backlog} normal jobs ({len(high_waits_ms)} jobs), p50 / max",
             f"{figures['high_job_wait_ms_p50']} / {figures['high_job_wait_ms_max']} ms"),
            ("normal jobs still waiting when the last high one started", str(waiting_behind[-1])),
            ("one normal job's length (p50)", f"{figures['normal_job_length_ms_p50']} ms"),
            ("worker RSS at 1,000 jobs", f"{rss[1000]:.1f} MB"),
            (f"worker RSS at {args.memory_jobs:,} jobs", f"{rss[args.memory_jobs]:.1f} MB"),
            ("RSS growth (goal < 10 %)", f"{growth * 100:.1f} %"),
        ],
    )


if __name__ == "__main__":
    main()
