"""HTTP enqueue: POST /api/jobs/ under wrk at 16 connections, against a trivial view on the same server.

    .venv/bin/python bench/http_enqueue.py [--seconds 15] [--connections 16]

Needs wrk (apt-get install wrk). The server is uvicorn with the process count docs/operations.md recommends (one per
core; WEB_CONCURRENCY overrides, --workers too) for both endpoints; no Celery worker runs, so the
web side is measured alone (the queued jobs are purged afterwards). wrk's keep-alive connections
stay with the uvicorn process that accepted them, so one run may load the processes unevenly: each
endpoint is run --repeats times, alternating, and the median run (by requests/s) is reported.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import tempfile

from harness import WEB_WORKERS, environment, start_server, write_result

POST_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"type": "diagnostics.sleep", "input": {"seconds": 0}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token %s"
"""


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=WEB_WORKERS, help="uvicorn processes")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with environment() as token:
        from tests.support import purge_queues

        server = start_server(workers=args.workers)
        try:
            runs = {"trivial": [], "enqueue": []}
            for _ in range(args.repeats):
                runs["trivial"].append(wrk(f"{server.url}/healthz", args.seconds, args.connections))
                runs["enqueue"].append(wrk(f"{server.url}/api/jobs/", args.seconds, args.connections, POST_SCRIPT % token))
        finally:
            server.stop()
            purge_queues()

    trivial, enqueue = (sorted(runs[k], key=lambda run: run["requests_per_s"])[len(runs[k]) // 2] for k in ("trivial", "enqueue"))
    ratio = enqueue["requests_per_s"] / trivial["requests_per_s"]
    write_result(
        "http_enqueue",
        {"connections": args.connections, "uvicorn_workers": args.workers, "trivial_view": trivial, "post_jobs": enqueue, "ratio": round(ratio, 3), "all_runs": runs},
        [
            ("uvicorn processes", str(args.workers)),
            ("trivial view", f"{trivial['requests_per_s']:.0f} req/s, p50 {trivial['p50_ms']:.1f} ms, p99 {trivial['p99_ms']:.1f} ms"),
            ("POST /api/jobs/", f"{enqueue['requests_per_s']:.0f} req/s, p50 {enqueue['p50_ms']:.1f} ms, p99 {enqueue['p99_ms']:.1f} ms"),
            ("non-2xx answers to POST", str(enqueue["non_2xx"])),
            ("POST / trivial (goal >= 0.5)", f"{ratio:.2f}"),
            (f"POST p99 at {args.connections} connections (goal <= 100 ms)", f"{enqueue['p99_ms']:.1f} ms"),
        ],
    )


if __name__ == "__main__":
    main()
