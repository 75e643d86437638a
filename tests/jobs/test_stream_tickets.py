"""Stream tickets replace API tokens in URLs: one connection each, within seconds, and no
credential ever reaches the server's access log."""
from __future__ import annotations

import time

import pytest
import requests
from django.db import connections
from rest_framework.test import APIClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from jobs.api.tickets import stream_ticket_issue, stream_ticket_redeem

from ..conftest import wait_for_job
from ..support import AsgiServer, database_url
from .test_live import read_socket, read_sse, submit, token_of


def ticket_for(live, user) -> str:
    answer = requests.post(f"{live.url}/api/stream-tickets", headers={"Authorization": f"Token {token_of(user)}"},
                           timeout=10)
    assert answer.status_code == 201 and answer.json()["expires_in"] == 30
    return answer.json()["ticket"]


@pytest.mark.worker
def test_a_ticket_opens_one_websocket_once(live, user):
    job_id = submit(live, user, seconds=0)
    wait_for_job(job_id)
    ticket = ticket_for(live, user)

    with connect(f"{live.ws_url}/ws/jobs/{job_id}/?ticket={ticket}", open_timeout=10) as ws:
        messages = read_socket(ws)
    with pytest.raises(InvalidStatus) as reused:
        connect(f"{live.ws_url}/ws/jobs/{job_id}/?ticket={ticket}", open_timeout=10)

    assert [m["type"] for m in messages] == ["snapshot"] and messages[0]["job"]["status"] == "completed"
    assert reused.value.response.status_code == 403


@pytest.mark.worker
def test_a_ticket_opens_one_sse_stream_once(live, user):
    job_id = submit(live, user, seconds=0)
    wait_for_job(job_id)
    ticket = ticket_for(live, user)
    url = f"{live.url}/api/jobs/{job_id}/stream?ticket={ticket}"

    with requests.get(url, headers={"Accept": "text/event-stream"}, stream=True, timeout=30) as response:
        blocks = read_sse(response)
    reused = requests.get(url, headers={"Accept": "text/event-stream"}, timeout=30)

    assert blocks[0][2] == "snapshot"
    assert reused.status_code == 401


@pytest.mark.django_db
def test_a_ticket_expires(user, settings):
    settings.JOBS_STREAM_TICKET_SECONDS = 1
    ticket = stream_ticket_issue(user)
    time.sleep(1.2)
    assert stream_ticket_redeem(ticket) is None


@pytest.mark.django_db
def test_a_ticket_is_for_its_own_user_and_needs_credentials(user, other_user):
    assert APIClient().post("/api/stream-tickets").status_code == 401
    assert stream_ticket_redeem(stream_ticket_issue(other_user)) == other_user
    assert stream_ticket_redeem("not-a-ticket") is None


@pytest.mark.worker
def test_the_access_log_never_shows_a_token_or_ticket(worker, user, tmp_path):
    """uvicorn at info level logs every request line and handshake: the ones here carry a token
    and tickets in their URLs (the token no longer counts there, the tickets do)."""
    server = AsgiServer(database_url(connections["default"].settings_dict), tmp_path, log_level="info",
                        env={"ALLOWED_HOSTS": "127.0.0.1,localhost"}).start()
    try:
        token = token_of(user)
        job_id = submit(server, user, seconds=0)
        wait_for_job(job_id)
        requests.get(f"{server.url}/api/jobs/?token={token}", timeout=10)
        with pytest.raises(InvalidStatus):
            connect(f"{server.ws_url}/ws/jobs/{job_id}/?token={token}", open_timeout=10)
        tickets = [ticket_for(server, user) for _ in range(2)]
        with connect(f"{server.ws_url}/ws/jobs/{job_id}/?ticket={tickets[0]}", open_timeout=10) as ws:
            read_socket(ws)
        with requests.get(f"{server.url}/api/jobs/{job_id}/stream?ticket={tickets[1]}", stream=True, timeout=30) as sse:
            read_sse(sse)
    finally:
        server.stop()

    log = server.log_path.read_text()
    assert "GET /api/jobs/" in log and "WebSocket /ws/jobs/" in log, log[-2000:]
    assert token not in log and not any(ticket in log for ticket in tickets)
    assert "ticket=[redacted]" in log and "token=[redacted]" in log
    assert "Logging error" not in log, "the redacted lines are still whole log lines"
