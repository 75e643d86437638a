"""The web server as production runs it: requests take turns per process (WEB_REQUEST_CONCURRENCY)."""
from __future__ import annotations

import threading

import pytest
import requests
from django.db import connections
from rest_framework.authtoken.models import Token

from .support import AsgiServer, database_url, submit_sleep


@pytest.fixture
def one_turn_server(transactional_db, tmp_path):
    """uvicorn running one request at a time."""
    server = AsgiServer(
        database_url(connections["default"].settings_dict), tmp_path,
        env={"WEB_REQUEST_CONCURRENCY": "1", "ALLOWED_HOSTS": "127.0.0.1,localhost"},
    ).start()
    yield server
    server.stop()


def test_requests_beyond_the_limit_wait_their_turn_and_open_streams_hold_none(one_turn_server, user):
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
        # ... and eight concurrent requests still all get their answer, one turn at a time.
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
