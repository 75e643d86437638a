"""Live progress through a real uvicorn server and a real worker: WebSocket and SSE clients."""
from __future__ import annotations

import json

import pytest
import requests
from rest_framework.authtoken.models import Token
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ..conftest import wait_for_job
from ..support import submit_sleep

pytestmark = pytest.mark.worker

TERMINAL = {"completed", "failed", "cancelled"}


def token_of(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def auth(user) -> dict:
    return {"Authorization": f"Token {token_of(user)}"}


def submit(live, user, **input) -> str:
    return submit_sleep(live.url, token_of(user), **input)


def read_socket(ws, limit: int = 500) -> list[dict]:
    """Every message until the server closes the socket."""
    messages = []
    for raw in ws:
        messages.append(json.loads(raw))
        assert len(messages) < limit
    return messages


def assert_live_sequence(messages: list[dict], job_id: str) -> None:
    assert messages[0]["type"] == "snapshot"
    assert all(m["job"]["id"] == job_id for m in messages)
    progress = [m["job"]["progress"] for m in messages]
    assert progress == sorted(progress), f"progress went backwards: {progress}"
    terminal = [m for m in messages if m["type"] in TERMINAL]
    assert [m["type"] for m in terminal] == ["completed"]
    assert messages[-1] is terminal[0]
    assert messages[-1]["job"]["progress"] == 100 and messages[-1]["job"]["output"]["steps"] == 10


def test_websocket_streams_monotonic_progress_and_one_terminal_event(live, user):
    job_id = submit(live, user, seconds=3, steps=10)

    with connect(f"{live.ws_url}/ws/jobs/{job_id}/", additional_headers=auth(user), open_timeout=10) as ws:
        messages = read_socket(ws)

    assert_live_sequence(messages, job_id)
    intermediate = {m["job"]["progress"] for m in messages if m["type"] == "progress"} - {0, 100}
    assert len(intermediate) >= 5, f"expected live steps, got {sorted(intermediate)}"


def test_a_quiet_websocket_stays_open_until_its_job_ends(live, user):
    """Eight silent seconds: longer than the 5 s a channel-layer receive blocks in Redis."""
    job_id = submit(live, user, seconds=8, steps=1)

    with connect(f"{live.ws_url}/ws/jobs/{job_id}/", additional_headers=auth(user), open_timeout=10) as ws:
        messages = read_socket(ws)

    assert messages[0]["type"] == "snapshot" and messages[-1]["type"] == "completed"


def test_websocket_accepts_token_subprotocol_and_header(live, user):
    job_id = submit(live, user, seconds=0)
    wait_for_job(job_id)

    with connect(f"{live.ws_url}/ws/jobs/{job_id}/", subprotocols=["token", token_of(user)]) as ws:
        assert ws.subprotocol == "token"
        by_subprotocol = read_socket(ws)
    with connect(f"{live.ws_url}/ws/jobs/{job_id}/", additional_headers={"Authorization": f"Token {token_of(user)}"}) as ws:
        by_header = read_socket(ws)

    # A job that already ended: its snapshot, then the socket closes.
    assert [m["type"] for m in by_subprotocol] == ["snapshot"] == [m["type"] for m in by_header]
    assert by_header[0]["job"]["status"] == "completed"


@pytest.mark.parametrize("credentials", ["none", "bad-token", "other-user", "token-in-url", "bad-ticket"])
def test_websocket_refuses_strangers(live, user, other_user, credentials):
    job_id = submit(live, user, seconds=0)
    query, headers = {
        "none": ("", {}),
        "bad-token": ("", {"Authorization": "Token nope"}),
        "other-user": ("", auth(other_user)),
        # A token in the URL is no credential (URLs are logged): the socket stays anonymous.
        "token-in-url": (f"?token={token_of(user)}", {}),
        "bad-ticket": ("?ticket=nope", {}),
    }[credentials]

    with pytest.raises(InvalidStatus) as refused:
        connect(f"{live.ws_url}/ws/jobs/{job_id}/{query}", additional_headers=headers, open_timeout=10)
    assert refused.value.response.status_code == 403
    wait_for_job(job_id)


def test_websocket_refuses_a_cross_site_browser(live, user):
    job_id = submit(live, user, seconds=0)
    with pytest.raises(InvalidStatus):
        connect(f"{live.ws_url}/ws/jobs/{job_id}/", additional_headers=auth(user), origin="https://evil.example")
    wait_for_job(job_id)


def completed_job_ids(ws, until: set[str]) -> tuple[set[str], set[str]]:
    """Read events until every job in `until` has completed; returns (all ids seen, completed ids)."""
    seen, completed = set(), set()
    while not until <= completed:
        event = json.loads(ws.recv(timeout=20))
        seen.add(event["job"]["id"])
        if event["type"] == "completed":
            completed.add(event["job"]["id"])
    return seen, completed


def test_job_list_socket_streams_own_jobs_and_staff_see_all(live, user, other_user, staff_user):
    with connect(f"{live.ws_url}/ws/jobs/", additional_headers=auth(user)) as mine, connect(
        f"{live.ws_url}/ws/jobs/", additional_headers=auth(staff_user)
    ) as everyone:
        assert json.loads(mine.recv(timeout=10))["type"] == "snapshot"
        assert json.loads(everyone.recv(timeout=10))["type"] == "snapshot"
        theirs = submit(live, other_user, seconds=0)
        wait_for_job(theirs)
        own = submit(live, user, seconds=0)

        assert completed_job_ids(mine, until={own})[0] == {own}
        assert completed_job_ids(everyone, until={own, theirs})[0] == {own, theirs}


def read_sse(response) -> list[tuple[str, str | None, str | None, dict | None]]:
    """(kind, id, event, data) per block; kind is "comment" or "event"."""
    blocks, current = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if current:
                blocks.append(("event", current.get("id"), current.get("event"), json.loads(current["data"])))
            current = {}
        elif line.startswith(":"):
            blocks.append(("comment", None, None, None))
        else:
            field, _, value = line.partition(": ")
            current[field] = value
    return blocks


def sse_get(live, user, job_id, **kwargs):
    return requests.get(
        f"{live.url}/api/jobs/{job_id}/stream",
        headers={"Authorization": f"Token {token_of(user)}", "Accept": "text/event-stream"},
        stream=True,
        timeout=30,
        **kwargs,
    )


def test_sse_streams_snapshot_progress_heartbeats_and_closes_after_terminal(live, user):
    job_id = submit(live, user, seconds=3, steps=10, fail_attempts=0)

    with sse_get(live, user, job_id) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        blocks = read_sse(response)  # returns only because the server ends the stream

    events = [b for b in blocks if b[0] == "event"]
    assert all(event_id for _, event_id, _, _ in events)
    assert len({event_id for _, event_id, _, _ in events}) == len(events)
    assert [name for _, _, name, _ in events][0] == "snapshot"
    assert_live_sequence([data for _, _, _, data in events], job_id)


def test_sse_heartbeat_comments_keep_a_quiet_stream_open(live, user):
    job_id = submit(live, user, seconds=2.5, steps=1)  # silent for 2.5 s; heartbeat is 1 s in tests
    with sse_get(live, user, job_id) as response:
        blocks = read_sse(response)
    assert sum(1 for kind, *_ in blocks if kind == "comment") >= 1
    assert blocks[-1][2] == "completed"


def test_sse_after_the_job_ended_gives_snapshot_and_closes(live, user):
    job_id = submit(live, user, seconds=0, fail_attempts=1, error="permanent")
    wait_for_job(job_id)

    with sse_get(live, user, job_id) as response:
        blocks = read_sse(response)

    assert [(name, data["job"]["status"]) for _, _, name, data in blocks] == [("snapshot", "failed")]


def test_sse_has_the_jobs_access_rules(live, user, other_user):
    job_id = submit(live, user, seconds=0)
    assert sse_get(live, other_user, job_id).status_code == 404
    assert requests.get(f"{live.url}/api/jobs/{job_id}/stream", timeout=10).status_code == 401
    wait_for_job(job_id)
