"""Delayed-job lateness: from a job's run_at to its publish by the dispatcher, and to its start.

    .venv/bin/python bench/dispatch_lateness.py [--jobs 30] [--spread 15]

Submits jobs through the API with run_at spread over the next `spread` seconds at random
sub-second offsets; a real `celery beat` runs jobs.dispatch_due every second and a real worker
runs them. Lateness is read from the job rows (dispatched_at - run_at, started_at - run_at).
"""
from __future__ import annotations

import argparse
import os
import random
import time
from datetime import datetime, timedelta, timezone

import requests

from harness import percentile, stack, write_result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--spread", type=float, default=15.0)
    args = parser.parse_args()

    with stack() as (server, token):
        from tests.support import BeatProcess

        from harness import ROOT
        from jobs.models import Job, TERMINAL_STATUSES

        beat = BeatProcess(os.environ["DATABASE_URL"], ROOT / "var" / "bench").start()
        try:
            ids = []
            start = datetime.now(timezone.utc) + timedelta(seconds=2)
            for _ in range(args.jobs):
                run_at = start + timedelta(seconds=random.uniform(0, args.spread))
                response = requests.post(
                    f"{server.url}/api/jobs/",
                    json={"type": "diagnostics.sleep", "input": {"seconds": 0}, "run_at": run_at.isoformat()},
                    headers={"Authorization": f"Token {token}"},
                    timeout=10,
                )
                response.raise_for_status()
                ids.append(response.json()["id"])
            deadline = time.monotonic() + args.spread + 30
            while Job.objects.filter(id__in=ids).exclude(status__in=TERMINAL_STATUSES).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("jobs did not finish in time")
                time.sleep(0.5)
        finally:
            beat.stop()
        rows = list(Job.objects.filter(id__in=ids).values_list("run_at", "dispatched_at", "started_at"))

    dispatch_ms = [(dispatched - run_at).total_seconds() * 1000 for run_at, dispatched, _ in rows]
    start_ms = [(started - run_at).total_seconds() * 1000 for run_at, _, started in rows]
    figures = {
        "jobs": len(rows),
        "dispatch_p50_ms": round(percentile(dispatch_ms, 0.50), 1),
        "dispatch_p95_ms": round(percentile(dispatch_ms, 0.95), 1),
        "dispatch_max_ms": round(max(dispatch_ms), 1),
        "start_p50_ms": round(percentile(start_ms, 0.50), 1),
        "start_p95_ms": round(percentile(start_ms, 0.95), 1),
        "start_max_ms": round(max(start_ms), 1),
        "early": sum(ms < 0 for ms in dispatch_ms),
    }
    write_result(
        "dispatch_lateness",
        figures,
        [("delayed jobs", str(figures["jobs"])),
         ("run_at to publish, p50 / p95 / max", f"{figures['dispatch_p50_ms']} / {figures['dispatch_p95_ms']} / {figures['dispatch_max_ms']} ms"),
         ("run_at to start on a worker, p50 / p95 / max", f"{figures['start_p50_ms']} / {figures['start_p95_ms']} / {figures['start_max_ms']} ms"),
         ("published before run_at", str(figures["early"]))],
    )


if __name__ == "__main__":
    main()
