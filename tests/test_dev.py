"""`python3 dev.py up`, the README's first command, on its embedded defaults (SQLite, the bundled
Redis): Ctrl-C while a job runs stops everything within seconds, without tracebacks, and the job
is handed back (retrying), not left running."""
from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import requests

from .support import ROOT, free_port, wait_for

pytestmark = pytest.mark.worker


def test_ctrl_c_stops_dev_up_cleanly_while_a_job_runs(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(VAR_DIR=str(tmp_path), PORT=str(port))
    # Its own process group, as a terminal's foreground job: Ctrl-C is SIGINT to the whole group.
    up = subprocess.Popen([sys.executable, "dev.py", "up"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(up.stdout), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: " ready." in "".join(output) and "API token:" in "".join(output), timeout=180,
                 message="dev.py up to start")
        token = re.search(r"API token: (\w+)", "".join(output)).group(1)
        headers = {"Authorization": f"Token {token}"}
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=30)
        job = requests.post(f"{base}/api/jobs/", json={"type": "diagnostics.sleep", "input": {"seconds": 60, "steps": 60}},
                            headers=headers, timeout=10).json()
        wait_for(lambda: requests.get(job["status_url"], headers=headers, timeout=5).json()["status"] == "running",
                 timeout=30, message="the job to run")
        before_stop = len(output)

        os.killpg(up.pid, signal.SIGINT)
        stopping = time.monotonic()
        up.wait(timeout=30)
        took = time.monotonic() - stopping
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
    time.sleep(0.2)  # the reader thread's last lines
    stop_output = "".join(output[before_stop:])

    assert up.returncode == 0
    assert took < 10, f"stopping took {took:.1f} s"
    assert "Traceback" not in stop_output, stop_output
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        status, max_attempts = db.execute("SELECT status, max_attempts FROM jobs_job WHERE id = ?", [job["id"]]).fetchone()
    assert (status, max_attempts) == ("retrying", 6), "handed back, its attempt not counted"
    assert not _answers(f"{base}/healthz")
    redis_port = int(re.search(r"Started embedded Redis at redis://127.0.0.1:(\d+)", "".join(output)).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False
