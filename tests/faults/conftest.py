"""A whole stack per test, on a Redis of its own that the test may stop, restart or lose."""
from __future__ import annotations

import pytest
import requests
from django.db import connections
from rest_framework.authtoken.models import Token

from ..support import AsgiServer, BeatProcess, RedisProcess, WorkerProcess, database_url, submit_sleep

# Short timings so that faults are detected in seconds, not minutes.
FAULT_ENV = {
    "JOBS_HEARTBEAT_INTERVAL": "0.5",
    "JOBS_STALL_TIMEOUT": "3",
    "JOBS_REAPER_INTERVAL": "1",
    "JOBS_DISPATCH_GRACE_SECONDS": "2",
    "JOBS_REDISPATCH_SECONDS": "3",
    "JOBS_SHUTDOWN_GRACE_SECONDS": "4",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
}


class Stack:
    def __init__(self, tmp_path, env: dict):
        self.tmp = tmp_path
        self.database = database_url(connections["default"].settings_dict)
        self.redis = RedisProcess(tmp_path / "redis").start()
        self.env = {**env, "REDIS_URL": self.redis.url}
        self.web = AsgiServer(self.database, tmp_path, env=self.env).start()
        self.beat = BeatProcess(self.database, tmp_path, env=self.env).start()
        self.workers: list[WorkerProcess] = []
        self.token = ""

    def start_worker(self, concurrency: int = 2, **env: str) -> WorkerProcess:
        worker = WorkerProcess(self.database, self.tmp, env={**self.env, **env}, concurrency=concurrency).start()
        self.workers.append(worker)
        return worker

    def submit(self, session: requests.Session | None = None, **input) -> str:
        return submit_sleep(self.web.url, self.token, session, **input)

    def stop(self) -> None:
        for process in [*self.workers, self.beat, self.web]:
            process.kill()
        self.redis.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()}" for p in [*self.workers, self.beat, self.web])


def _stack(user, tmp_path, request, env):
    stack = Stack(tmp_path, env)
    stack.token = Token.objects.create(user=user).key
    yield stack
    stack.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(stack.logs())


@pytest.fixture
def stack(transactional_db, user, tmp_path, request):
    """The whole service with short fault timings (FAULT_ENV)."""
    yield from _stack(user, tmp_path, request, FAULT_ENV)


@pytest.fixture
def default_stack(transactional_db, user, tmp_path, request):
    """The whole service with the default timings: recovery as users get it."""
    yield from _stack(user, tmp_path, request, {"ALLOWED_HOSTS": FAULT_ENV["ALLOWED_HOSTS"]})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
