"""The web server as production runs it: requests take turns per process (WEB_REQUEST_CONCURRENCY);
oversized bodies and unreadable URLs are refused before Django reads anything (config/guard.py)."""
from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time

import pytest
import requests
from django.conf import settings
from django.db import connections
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from asgiref.sync import ThreadSensitiveContext
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from config.asgi import SyncViewsASGIHandler

from .support import ROOT, AsgiServer, database_url, submit_sleep


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


async def asgi_get(handler, path: str) -> int:
    """A GET through the handler's ASGI entry point, as uvicorn calls it; the answer's status."""
    sent, body_read = [], []

    async def receive():
        if body_read:
            await asyncio.Event().wait()  # the client stays connected
        body_read.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"localhost")], "server": ("localhost", 80), "client": ("127.0.0.1", 5000),
             "scheme": "http", "http_version": "1.1", "asgi": {"version": "3.0"}}
    await handler(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_requests_reuse_their_threads(settings):
    """Each request runs in a thread, and the next request gets it again instead of a new one."""
    settings.WEB_REQUEST_CONCURRENCY = 2
    handler = SyncViewsASGIHandler()
    threads, both_in = [], threading.Barrier(2, timeout=5)

    def view(request):
        threads.append(threading.current_thread())  # the object: a new thread may reuse an ident
        if request.path == "/together":
            both_in.wait()  # two requests in flight at once: two threads
        return HttpResponse("ok")

    handler.get_response = view

    async def requests_():
        for _ in range(3):
            assert await asgi_get(handler, "/alone") == 200
        assert await asyncio.gather(asgi_get(handler, "/together"), asgi_get(handler, "/together")) == [200, 200]
        for _ in range(3):
            assert await asgi_get(handler, "/alone") == 200

    asyncio.run(requests_())
    assert len(set(threads[:3])) == 1
    assert len(set(threads)) == 2
    assert len(handler.idle_threads) == 2


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


# Who the guard takes a request to come from (it only looks for credentials; Django checks them
# later), and how large a body it lets through for them.
SENDERS = {
    "token": (b"Authorization: Token unchecked\r\n", settings.DATA_UPLOAD_MAX_MEMORY_SIZE),
    "session": (b"Cookie: csrftoken=x; sessionid=unchecked\r\n", settings.DATA_UPLOAD_MAX_MEMORY_SIZE),
    "anonymous": (b"Cookie: csrftoken=x\r\n", settings.WEB_ANONYMOUS_MAX_BODY_BYTES),
}


def test_a_body_the_guard_lets_through_is_never_spooled_to_disk():
    largest = max(settings.WEB_ANONYMOUS_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    assert largest <= settings.FILE_UPLOAD_MAX_MEMORY_SIZE


def post_head(server, sender: str, framing: bytes) -> socket.socket:
    """A socket that has sent the head of a POST to /api/jobs/, and no body yet."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"POST /api/jobs/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 + SENDERS[sender][0] + framing + b"\r\n")
    return sock


def answer(sock: socket.socket) -> tuple[int, dict]:
    response = http.client.HTTPResponse(sock)
    response.begin()  # times out (5 s) if the server waits for the body instead
    return response.status, json.loads(response.read())


def chunked(body: bytes, size: int = 64 * 1024) -> bytes:
    """`body` in chunked transfer coding, without the last (empty) chunk."""
    parts = (body[start:start + size] for start in range(0, len(body), size))
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:  # closed with our unread bytes still in its buffer
        return True


@pytest.mark.parametrize("sender, declared", [
    ("token", 200 * 1024 * 1024), ("session", 200 * 1024 * 1024), ("anonymous", 100_000),
    *((sender, limit + 1) for sender, (_, limit) in SENDERS.items()),
])
def test_a_declared_oversized_body_is_refused_before_it_is_sent(asgi_server, sender, declared):
    with post_head(asgi_server, sender, b"Content-Length: %d\r\n" % declared) as sock:
        status, body = answer(sock)
        assert (status, body["detail"].startswith("The request body is too large")) == (413, True)
        assert closed(sock), "the server reads no body after its answer"


@pytest.mark.parametrize("sender", SENDERS)
def test_a_chunked_body_is_refused_once_it_passes_the_limit(asgi_server, sender):
    limit = SENDERS[sender][1]
    with post_head(asgi_server, sender, b"Transfer-Encoding: chunked\r\n") as sock:
        # One byte past the limit, and the body goes on: an answer now can only come from counting.
        sock.sendall(chunked(b"x" * (limit + 1)))
        assert answer(sock)[0] == 413
        assert closed(sock), "the rest of the body is never read"


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_body_at_the_limit_reaches_django(asgi_server, sender, framing):
    limit = SENDERS[sender][1]
    body = b" " * limit
    if framing == "length":
        sock = post_head(asgi_server, sender, b"Content-Length: %d\r\n" % limit)
        sock.sendall(body)
    else:
        sock = post_head(asgi_server, sender, b"Transfer-Encoding: chunked\r\n")
        sock.sendall(chunked(body) + b"0\r\n\r\n")
    with sock:
        assert answer(sock)[0] in {401, 403}  # Django read it, then refused the unchecked credentials


def test_a_submit_with_a_token_is_still_accepted(asgi_server, transactional_db, user):
    # Delayed an hour: no worker of the session claims the job while this test's flush runs.
    response = requests.post(
        f"{asgi_server.url}/api/jobs/", timeout=30,
        json={"type": "diagnostics.sleep", "input": {"seconds": 0}, "delay_seconds": 3600},
        headers={"Authorization": f"Token {Token.objects.create(user=user).key}"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"


@pytest.mark.parametrize("target", ["/api/jobs/%00", "/api/jobs/?type=%00", "/api/jobs/%FF"])
def test_a_url_with_nul_or_not_utf8_is_400(asgi_server, target):
    response = requests.get(asgi_server.url + target, headers={"Authorization": "Token unchecked"}, timeout=10)
    assert response.status_code == 400 and "detail" in response.json()


@pytest.mark.parametrize("target", ["/ws/jobs/%00/", "/ws/jobs/?ticket=%00"])
def test_a_websocket_handshake_with_nul_is_refused(asgi_server, transactional_db, user, target):
    token = Token.objects.create(user=user).key
    with pytest.raises(InvalidStatus) as refused:
        connect(asgi_server.ws_url + target, additional_headers={"Authorization": f"Token {token}"}, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_every_uvicorn_command_line_limits_websocket_messages():
    for name in ("dev.py", "Dockerfile", "docker-compose.yml"):
        commands = [line for line in (ROOT / name).read_text().splitlines() if '"config.asgi:application"' in line]
        assert commands and all('"--ws-max-size", "65536"' in command for command in commands), name
