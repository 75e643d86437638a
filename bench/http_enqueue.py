"""HTTP enqueue: POST /api/jobs/ under wrk at 16 connections, against a trivial view and the two bare
views of bench/bare_views.py (INSERT + Redis LPUSH, INSERT + Celery publish: the limits) on the same
server.

    .venv/bin/python bench/http_enqueue.py [--seconds 15] [--connections 16]

Needs wrk (apt-get install wrk). The server is uvicorn with the process count docs/operations.md recommends (one per
core; WEB_CONCURRENCY overrides, --workers too) for both endpoints; no Celery worker runs, so the
web side is measured alone (the queued jobs are purged afterwards). wrk's keep-alive connections
stay with the uvicorn process that accepted them, so one run may load the processes unevenly: each
endpoint is run --repeats times, alternating, and the median run (by requests/s) is reported.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile

from harness import WEB_WORKERS, bench_user, environment, forget_jobs, start_server, write_result

POST_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"type": "diagnostics.sleep", "input": {"seconds": 0}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token %s"
"""
# The same body, to the bare views (which read no token; the %s keeps one way of filling scripts).
BARE_SCRIPT = POST_SCRIPT.replace("Token %s", "none") + "-- %s\n"


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            command[1:1] = ["-s", lua.name]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    def latency(p):
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency(50),
        "p99_ms": latency(99),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


ENDPOINTS = {
    "trivial": ("/healthz", None),
    "insert_lpush": ("/bench/insert-lpush", BARE_SCRIPT),
    "insert_publish": ("/bench/insert-publish", BARE_SCRIPT),
    "post_jobs": ("/api/jobs/", POST_SCRIPT),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=WEB_WORKERS, help="uvicorn processes")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with environment() as token:
        from tests.support import purge_queues

        # bench.settings adds bench/bare_views.py's limits to the service's URLs.
        server = start_server(workers=args.workers, env={"DJANGO_SETTINGS_MODULE": "bench.settings"})
        try:
            runs = {name: [] for name in ENDPOINTS}
            for _ in range(args.repeats):
                for name, (path, script) in ENDPOINTS.items():
                    runs[name].append(wrk(f"{server.url}{path}", args.seconds, args.connections, script and script % token))
        finally:
            server.stop()
            purge_queues()
            forget_jobs(bench_user())
            import redis

            redis.Redis.from_url(os.environ["REDIS_URL"]).delete("bench:bare")

    median = {name: sorted(r, key=lambda run: run["requests_per_s"])[len(r) // 2] for name, r in runs.items()}
    rate = {name: m["requests_per_s"] for name, m in median.items()}
    ratios = {
        "post_jobs_to_trivial": round(rate["post_jobs"] / rate["trivial"], 3),
        "post_jobs_to_insert_publish": round(rate["post_jobs"] / rate["insert_publish"], 3),
        "insert_lpush_to_trivial": round(rate["insert_lpush"] / rate["trivial"], 3),
        "insert_publish_to_trivial": round(rate["insert_publish"] / rate["trivial"], 3),
    }
    def line(name):
        m = median[name]
        return f"{m['requests_per_s']:.0f} req/s, p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms"
    write_result(
        "http_enqueue",
        {"connections": args.connections, "uvicorn_workers": args.workers, **median, "ratios": ratios, "all_runs": runs},
        [
            ("uvicorn processes", str(args.workers)),
            ("trivial view (GET /healthz)", line("trivial")),
            ("bare view: INSERT + Redis LPUSH", f"{line('insert_lpush')} ({ratios['insert_lpush_to_trivial']:.2f}x trivial)"),
            ("bare view: INSERT + Celery publish", f"{line('insert_publish')} ({ratios['insert_publish_to_trivial']:.2f}x trivial)"),
            ("POST /api/jobs/", f"{line('post_jobs')} ({ratios['post_jobs_to_trivial']:.2f}x trivial)"),
            ("non-2xx answers to POST", str(median["post_jobs"]["non_2xx"])),
            ("POST / INSERT + Celery publish (goal >= 0.8)", f"{ratios['post_jobs_to_insert_publish']:.2f}"),
            (f"POST p99 at {args.connections} connections (goal <= 100 ms)", f"{median['post_jobs']['p99_ms']:.1f} ms"),
        ],
    )


if __name__ == "__main__":
    main()
