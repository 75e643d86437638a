"""The web server as production runs it: requests take turns per process (WEB_REQUEST_CONCURRENCY)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
import requests
from django.db import connections
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from asgiref.sync import ThreadSensitiveContext

from config.asgi import SyncViewsASGIHandler

from .support import AsgiServer, database_url, submit_sleep


async def respond(handler, request):
    """As Django's ASGI handler calls it: each request in a thread-sensitive context of its own."""
    async with ThreadSensitiveContext():
        return await handler.get_response_async(request)


def test_at_most_the_configured_number_of_requests_run_at_once_and_the_rest_wait(settings):
    settings.WEB_REQUEST_CONCURRENCY = 2
    handler = SyncViewsASGIHandler()
    running, most, lock = [0], [0], threading.Lock()

    def slow_view(request):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return HttpResponse(request.path)

    handler.get_response = slow_view
    requests_ = [RequestFactory().get(f"/api/jobs/{n}") for n in range(6)]

    async def all_at_once():
        return await asyncio.gather(*(respond(handler, r) for r in requests_))

    answers = asyncio.run(all_at_once())
    assert [a.content.decode() for a in answers] == [f"/api/jobs/{n}" for n in range(6)]
    assert most[0] == 2


def test_liveness_checks_do_not_wait_for_a_turn(settings):
    settings.WEB_REQUEST_CONCURRENCY = 1
    handler = SyncViewsASGIHandler()
    release = threading.Event()

    def view(request):
        if request.path != "/healthz":
            release.wait(5)  # holds the only turn until the liveness check has answered
        return HttpResponse(request.path)

    handler.get_response = view

    async def busy_then_check():
        busy = asyncio.ensure_future(respond(handler, RequestFactory().get("/api/jobs/")))
        await asyncio.sleep(0.05)
        check = await asyncio.wait_for(respond(handler, RequestFactory().get("/healthz")), 2)
        release.set()
        await busy
        return check

    assert asyncio.run(busy_then_check()).content == b"/healthz"


@pytest.fixture
def one_turn_server(transactional_db, tmp_path):
    """uvicorn running one request at a time."""
    server = AsgiServer(
        database_url(connections["default"].settings_dict), tmp_path,
        env={"WEB_REQUEST_CONCURRENCY": "1", "ALLOWED_HOSTS": "127.0.0.1,localhost"},
    ).start()
    yield server
    server.stop()


def test_open_sse_streams_hold_no_turn(one_turn_server, user):
    token = Token.objects.create(user=user).key
    auth = {"Authorization": f"Token {token}"}
    job_id = submit_sleep(one_turn_server.url, token, seconds=60)

    # Two SSE streams stay open on the job (no worker runs it)...
    streams = [
        requests.get(f"{one_turn_server.url}/api/jobs/{job_id}/stream", headers=auth, stream=True, timeout=10)
        for _ in range(2)
    ]
    try:
        for stream in streams:
            assert next(stream.iter_lines()).startswith(b"id: 1"), "the snapshot arrives"
        # ... and requests still get their answers, one turn at a time.
        answers = []
        threads = [
            threading.Thread(target=lambda: answers.append(
                requests.get(f"{one_turn_server.url}/api/jobs/{job_id}", headers=auth, timeout=10).status_code))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200] * 8
    finally:
        requests.post(f"{one_turn_server.url}/api/jobs/{job_id}/cancel", headers=auth, timeout=10)
        for stream in streams:
            stream.close()
