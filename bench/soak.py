"""Chaos soak: jobs with side effects submitted through the HTTP API for minutes while workers are
killed at random, Redis restarts empty, and a web process and a beat restart; then exact counts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_soak .venv/bin/python bench/soak.py \\
        [--jobs 20000] [--minutes 10] [--workers 3]

The stack, all real processes at the default settings: two uvicorn servers (the client retries on
the other one, with the same Idempotency-Key, when one does not answer), `--workers` Celery
workers (-c 2), two beats, PostgreSQL, and a private memory-only Redis (broker and cache) that the
soak restarts. Faults: SIGKILL of a random worker every 20-40 s (a new one starts), Redis
restarted twice (losing every queued message), one web server and one beat restarted.

Every job is diagnostics.sleep with record_effect (a row unique per job, written at the end of a
successful attempt), mostly instant, some 0.2 s or 1 s. At the end, once every accepted job is
terminal (or a deadline passes): accepted, terminal, completed, effects, jobs with more than one
completed attempt, jobs stuck; submit latency; queue depth and worker memory over time.
Results in bench/results/soak.{json,md,png}. tests/faults/test_soak.py runs a short version.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

SLEEPS = [0.0] * 8 + [0.2, 1.0]  # mean 0.12 s


class Soak:
    def __init__(self, database: str, token: str, workdir: Path, *, jobs: int, duration: float, workers: int,
                 seed: int = 7):
        from tests.support import RedisProcess

        self.database, self.token, self.workdir = database, token, workdir
        self.jobs, self.duration, self.worker_count = jobs, duration, workers
        self.random = random.Random(seed)
        self.redis = RedisProcess(workdir / "redis").start()
        self.env = {"REDIS_URL": self.redis.url, "ALLOWED_HOSTS": "127.0.0.1,localhost",
                    "JOBS_SUBMIT_RATE": "1000000/min"}
        self.webs, self.beats, self.workers = [], [], []
        self.accepted: dict[str, str] = {}  # idempotency key -> job id
        self.refused = 0
        self.latencies: list[tuple[float, float]] = []  # (when, seconds)
        self.samples: list[dict] = []
        self.faults: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.started = 0.0

    # --- processes ---------------------------------------------------------------------------

    def start(self) -> None:
        from tests.support import AsgiServer, BeatProcess

        self.webs = [AsgiServer(self.database, self.workdir, env=self.env).start() for _ in range(2)]
        self.beats = [BeatProcess(self.database, self.workdir, env=self.env).start() for _ in range(2)]
        self.workers = [self._new_worker() for _ in range(self.worker_count)]

    def _new_worker(self):
        from tests.support import WorkerProcess

        return WorkerProcess(self.database, self.workdir, env=self.env, concurrency=2).start()

    def stop(self) -> None:
        for process in [*self.workers, *self.beats, *self.webs]:
            process.kill()
        self.redis.stop()

    def fault(self, name: str) -> None:
        with self.lock:
            self.faults.append((time.monotonic() - self.started, name))
        print(f"  {time.monotonic() - self.started:6.1f} s  {name}", flush=True)

    # --- load --------------------------------------------------------------------------------

    def submit_one(self, session, index: int) -> None:
        import requests

        key = f"soak-{uuid.uuid4().hex}"
        body = {"type": "diagnostics.sleep", "input": {"seconds": self.random.choice(SLEEPS), "record_effect": True}}
        headers = {"Authorization": f"Token {self.token}", "Idempotency-Key": key}
        began = time.monotonic()
        for retry in range(40):  # about 20 s of retries: a restarting web server, Redis down
            web = self.webs[(index + retry) % len(self.webs)]
            try:
                response = session.post(f"{web.url}/api/jobs/", json=body, headers=headers, timeout=10)
            except requests.RequestException:
                time.sleep(0.5)
                continue
            if response.status_code == 202:
                with self.lock:
                    self.accepted[key] = response.json()["id"]
                    self.latencies.append((began - self.started, time.monotonic() - began))
                return
            time.sleep(0.5)
        with self.lock:
            self.refused += 1

    def client(self, number: int, clients: int) -> None:
        import requests

        session = requests.Session()
        mine = range(number, self.jobs, clients)
        interval = self.duration / max(1, len(mine))
        for n, index in enumerate(mine):
            due = self.started + n * interval
            time.sleep(max(0.0, due - time.monotonic()))
            self.submit_one(session, index)

    def chaos(self, stop: threading.Event) -> None:
        """Kill a random worker every 20-40 s; Redis restarts at 30 % and 65 % of the run, a web
        server at 45 %, a beat at 55 %."""
        planned = sorted([(0.30 * self.duration, "redis"), (0.65 * self.duration, "redis"),
                          (0.45 * self.duration, "web"), (0.55 * self.duration, "beat")])
        next_kill = self.random.uniform(20, 40)
        while not stop.is_set():
            now = time.monotonic() - self.started
            if planned and now >= planned[0][0]:
                _, what = planned.pop(0)
                getattr(self, f"restart_{what}")()
            elif now >= next_kill:
                self.kill_a_worker()
                next_kill = now + self.random.uniform(20, 40)
            stop.wait(0.2)

    def kill_a_worker(self) -> None:
        victim = self.random.choice(self.workers)
        victim.kill()
        self.workers.remove(victim)
        self.fault("worker killed (SIGKILL)")
        self.workers.append(self._new_worker())

    def restart_redis(self) -> None:
        self.redis.stop()
        self.fault("Redis stopped (memory only: queued messages lost)")
        time.sleep(2)
        self.redis.start()
        self.fault("Redis started again, empty")

    def restart_web(self) -> None:
        self.webs[0].stop()
        self.fault("web server stopped (SIGTERM)")
        self.webs[0].start()
        self.fault("web server started again")

    def restart_beat(self) -> None:
        self.beats[0].kill()
        self.fault("beat killed (SIGKILL)")
        self.beats[0].start()
        self.fault("beat started again")

    def sample(self, stop: threading.Event) -> None:
        """Every second: jobs waiting for a worker, running, accepted so far, workers' memory."""
        import psutil
        from django.db import connection

        while not stop.is_set():
            try:
                counts = _active_counts()
                rss = 0
                for worker in list(self.workers):
                    try:
                        process = psutil.Process(worker.process.pid)
                        rss += sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
                    except psutil.Error:
                        pass
                with self.lock:
                    self.samples.append({"t": round(time.monotonic() - self.started, 1), "accepted": len(self.accepted),
                                         **counts, "worker_rss_mb": round(rss / 2**20, 1)})
            except Exception as exc:  # the database is never faulted here; keep sampling regardless
                print(f"  sample failed: {exc}", flush=True)
            finally:
                connection.close()
            stop.wait(1.0)

    # --- the run -----------------------------------------------------------------------------

    def run(self, clients: int = 4, drain_timeout: float = 300.0) -> dict:
        self.start()
        self.started = time.monotonic()
        stop = threading.Event()
        background = [threading.Thread(target=self.chaos, args=(stop,)), threading.Thread(target=self.sample, args=(stop,))]
        for thread in background:
            thread.start()
        try:
            submitters = [threading.Thread(target=self.client, args=(n, clients)) for n in range(clients)]
            for thread in submitters:
                thread.start()
            for thread in submitters:
                thread.join()
            stop.set()  # no more faults while the backlog drains
            submitted_in = time.monotonic() - self.started
            self.fault("last job submitted; draining")
            drained = self.drain(drain_timeout)
            finished_in = time.monotonic() - self.started
        finally:
            stop.set()
            for thread in background:
                thread.join()
            self.stop()
        return self.counts(submitted_in, finished_in, drained)

    def drain(self, timeout: float) -> bool:
        from jobs.models import TERMINAL_STATUSES, Job

        ids = list(self.accepted.values())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _count(Job.objects.filter(status__in=TERMINAL_STATUSES), ids) == len(ids):
                return True
            time.sleep(1)
        return False

    def counts(self, submitted_in: float, finished_in: float, drained: bool) -> dict:
        from django.db.models import Count

        from diagnostics.models import DiagnosticsEffect
        from jobs.models import TERMINAL_STATUSES, Job, JobAttempt, JobStatus

        ids = list(self.accepted.values())
        latencies = [seconds for _, seconds in self.latencies]
        twice = 0
        for part in _parts(ids):
            twice += (JobAttempt.objects.filter(job_id__in=part, outcome=JobAttempt.Outcome.COMPLETED)
                      .values("job_id").annotate(n=Count("id")).filter(n__gt=1).count())
        attempts_by_outcome: dict[str, int] = {}
        for part in _parts(ids):
            for outcome, n in JobAttempt.objects.filter(job_id__in=part).values_list("outcome").annotate(n=Count("id")).order_by():
                attempts_by_outcome[outcome] = attempts_by_outcome.get(outcome, 0) + n
        return {
            "jobs_planned": self.jobs,
            "accepted": len(ids),
            "distinct_job_ids": len(set(ids)),
            "not_accepted_after_retries": self.refused,
            "terminal": _count(Job.objects.filter(status__in=TERMINAL_STATUSES), ids),
            "completed": _count(Job.objects.filter(status=JobStatus.COMPLETED), ids),
            "failed": _count(Job.objects.filter(status=JobStatus.FAILED), ids),
            "stuck": len(ids) - _count(Job.objects.filter(status__in=TERMINAL_STATUSES), ids),
            "effects": _count(DiagnosticsEffect.objects, ids, field="job_id"),
            "jobs_completed_twice": twice,
            "attempts_by_outcome": attempts_by_outcome,
            "drained": drained,
            "submitting_seconds": round(submitted_in, 1),
            "all_terminal_after_seconds": round(finished_in, 1),
            "submit_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "submit_p99_ms": round(harness.percentile(latencies, 0.99) * 1000, 1) if latencies else None,
            "submit_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            "faults": [{"t": round(t, 1), "what": what} for t, what in self.faults],
            "worker_rss_mb_max": max((s["worker_rss_mb"] for s in self.samples), default=None),
            "samples": self.samples,
            "submit_latencies": [(round(t, 2), round(s * 1000, 1)) for t, s in self.latencies],
        }


def _parts(ids: list[str], size: int = 5000):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _count(queryset, ids: list[str], field: str = "id") -> int:
    return sum(queryset.filter(**{f"{field}__in": part}).count() for part in _parts(ids))


def _active_counts() -> dict:
    """Jobs waiting for a worker and running, through the status index (the soak's own user owns
    every job in its database)."""
    from django.db.models import Count

    from jobs.models import Job, JobStatus

    rows = dict(Job.objects.filter(status__in=[JobStatus.PENDING, JobStatus.RETRYING, JobStatus.RUNNING])
                .values_list("status").annotate(n=Count("id")).order_by())
    return {"waiting": rows.get(JobStatus.PENDING, 0) + rows.get(JobStatus.RETRYING, 0),
            "running": rows.get(JobStatus.RUNNING, 0)}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    t = [s["t"] for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    axes[0].plot(t, [s["waiting"] for s in samples], label="waiting for a worker")
    axes[0].plot(t, [s["running"] for s in samples], label="running")
    axes[0].set_ylabel("jobs")
    axes[0].legend(loc="upper left")
    window: dict[int, list[float]] = {}
    for when, ms in result["submit_latencies"]:
        window.setdefault(int(when // 10) * 10, []).append(ms)
    slots = sorted(window)
    axes[1].plot(slots, [harness.percentile(window[s], 0.99) for s in slots], label="submit p99 (10 s windows)")
    axes[1].plot(slots, [statistics.median(window[s]) for s in slots], label="submit p50")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("ms")
    axes[1].legend(loc="upper left")
    axes[2].plot(t, [s["worker_rss_mb"] for s in samples], label="workers' memory (RSS, all processes)")
    axes[2].set_ylabel("MB")
    axes[2].set_xlabel("seconds")
    axes[2].legend(loc="upper left")
    for when, what in ((f["t"], f["what"]) for f in result["faults"]):
        colour = "red" if "killed" in what else ("purple" if "Redis" in what else "grey")
        for axis in axes:
            axis.axvline(when, color=colour, alpha=0.3, linewidth=1)
    fig.suptitle(f"Chaos soak: {result['accepted']:,} jobs accepted, {result['completed']:,} completed, "
                 f"{result['effects']:,} effects, {result['jobs_completed_twice']} completed twice, {result['stuck']} stuck"
                 "\nred: worker killed; purple: Redis restarted; grey: web/beat restarted")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    with harness.environment() as token:
        soak = Soak(os.environ["DATABASE_URL"], token, harness.VAR / "soak", jobs=args.jobs,
                    duration=args.minutes * 60, workers=args.workers)
        result = soak.run()
    harness.RESULTS.mkdir(parents=True, exist_ok=True)
    plot(result, harness.RESULTS / "soak.png")
    keep = {k: v for k, v in result.items() if k not in ("samples", "submit_latencies")}
    harness.write_result(
        "soak",
        {**keep, "samples": result["samples"]},
        [
            ("jobs planned / accepted (202)", f"{result['jobs_planned']:,} / {result['accepted']:,}"),
            ("not accepted after 20 s of retries", str(result["not_accepted_after_retries"])),
            ("terminal / completed / failed", f"{result['terminal']:,} / {result['completed']:,} / {result['failed']:,}"),
            ("side effects (one row per job)", f"{result['effects']:,}"),
            ("jobs with two completed attempts", str(result["jobs_completed_twice"])),
            ("jobs stuck (not terminal at the end)", str(result["stuck"])),
            ("attempts by outcome", ", ".join(f"{k} {v:,}" for k, v in sorted(result["attempts_by_outcome"].items()))),
            ("submitting took / all terminal after", f"{result['submitting_seconds']} s / {result['all_terminal_after_seconds']} s"),
            ("submit latency p50 / p99 / max", f"{result['submit_p50_ms']} / {result['submit_p99_ms']} / {result['submit_max_ms']} ms"),
            ("workers' memory, most", f"{result['worker_rss_mb_max']} MB"),
            ("faults", "; ".join(f"{f['t']} s {f['what']}" for f in result["faults"])),
        ],
    )


if __name__ == "__main__":
    main()
