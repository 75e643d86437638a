"""docker-compose.yml: valid for the compose CLI, and a worker for every queue the service publishes to."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml
from django.conf import settings

from .support import QUEUES, ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"


def compose_cli() -> list[str] | None:
    """`docker compose` (v2), else `docker-compose` (v1, Debian's package), else None."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def compose_config(*args: str, **env: str) -> subprocess.CompletedProcess:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose CLI (docker compose or docker-compose)")
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"SECRET_KEY", "JOBS_ENCRYPTION_KEYS", "CELERY_BROKER_URL"}}
    return subprocess.run([*cli, "-f", str(COMPOSE_FILE), *args, "config", "-q"], cwd=ROOT,
                          env={**environment, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("profile", [[], ["--profile", "rabbitmq"]], ids=["redis", "rabbitmq"])
def test_the_compose_cli_accepts_the_file(profile):
    result = compose_config(*profile, SECRET_KEY="dummy", JOBS_ENCRYPTION_KEYS="dummy")
    assert result.returncode == 0, result.stderr


def test_the_compose_file_refuses_to_start_without_secrets():
    result = compose_config()
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_every_queue_has_a_worker_and_every_worker_one_queue():
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    workers = {name: service for name, service in services.items() if service.get("command", [])[:4] == [
        "celery", "-A", "config", "worker"]}
    queues = [service["command"][service["command"].index("-Q") + 1] for service in workers.values()]
    housekeeping = {entry["options"]["queue"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert sorted(queues) == sorted(QUEUES) and housekeeping <= set(queues)
    # A stopped worker gives its running jobs their grace period before the supervisor kills it.
    for service in workers.values():
        assert int(service["stop_grace_period"].removesuffix("s")) > settings.JOBS_SHUTDOWN_GRACE_SECONDS


def test_compose_runs_two_beats():
    """Two beats is the recommended set-up (docs/reliability.md): losing one costs nothing."""
    beat = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["beat"]
    assert "beat" in beat["command"]
    assert beat["deploy"]["replicas"] == 2
