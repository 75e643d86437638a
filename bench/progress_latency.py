"""Progress push latency: from ctx.progress() in the worker to the event at a WebSocket client.

    .venv/bin/python bench/progress_latency.py [--jobs 5] [--steps 40] [--seconds 8]

Each event carries `at`, the time progress() was called in the worker; the client subtracts it
from the time the message arrived (same machine, same clock).
"""
from __future__ import annotations

import argparse
import json
import time

import requests
from websockets.sync.client import connect

from harness import percentile, stack, write_result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    latencies_ms: list[float] = []
    with stack() as (server, token):
        with connect(f"{server.ws_url}/ws/jobs/", additional_headers={"Authorization": f"Token {token}"}) as ws:
            json.loads(ws.recv(timeout=10))  # the snapshot
            pending = set()
            for _ in range(args.jobs):
                response = requests.post(
                    f"{server.url}/api/jobs/",
                    json={"type": "diagnostics.sleep", "input": {"seconds": args.seconds, "steps": args.steps}},
                    headers={"Authorization": f"Token {token}"},
                    timeout=10,
                )
                pending.add(response.json()["id"])
            while pending:
                raw = ws.recv(timeout=args.seconds * args.jobs + 60)
                received = time.time()
                event = json.loads(raw)
                if event["job"]["id"] not in pending:
                    continue
                if event["type"] == "progress" and 0 < event["job"]["progress"] < 100:
                    latencies_ms.append((received - event["at"]) * 1000)
                if event["type"] in ("completed", "failed", "cancelled"):
                    pending.discard(event["job"]["id"])

    figures = {
        "events": len(latencies_ms),
        "p50_ms": round(percentile(latencies_ms, 0.50), 2),
        "p99_ms": round(percentile(latencies_ms, 0.99), 2),
        "max_ms": round(max(latencies_ms), 2),
    }
    write_result(
        "progress_latency",
        figures,
        [("progress events measured", str(figures["events"])), ("p50", f"{figures['p50_ms']} ms"),
         ("p99", f"{figures['p99_ms']} ms"), ("max", f"{figures['max_ms']} ms")],
    )


if __name__ == "__main__":
    main()
