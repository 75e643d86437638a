"""Text the database cannot store (NUL, lone surrogates, bytes that are not UTF-8) is refused with a 4xx
wherever a client can put it: the path, the query string, a JSON body, a WebSocket handshake. Never a
500. URLs go through config.asgi.application as uvicorn calls it (Django's test client would skip the
guard in front of Django); JSON bodies through the API client. All on the test database."""
from __future__ import annotations

import json
from urllib.parse import quote, unquote, urlencode

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.urls import URLResolver, get_resolver
from hypothesis import HealthCheck, example, given, settings, strategies as st
from rest_framework.authtoken.models import Token

from config.asgi import application
from jobs.models import Job, JobStatus
from jobs.text import unstorable_text_error

pytestmark = pytest.mark.django_db

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

AWKWARD = ["\x00", "\ud800", "\udfff", "/", "%", "%00", "..", "?", "#", " ", "+", "é", "日本", "😀", "\u202e"]
# Short mixes of awkward and arbitrary characters, and very long runs of one.
awkward_text = st.one_of(
    st.lists(st.one_of(st.sampled_from(AWKWARD), st.characters()), max_size=12).map("".join),
    st.builds(lambda text, times: text * times, st.sampled_from([*AWKWARD, "a"]), st.integers(1_000, 5_000)),
)
# How a client writes text into a URL: every character escaped, or "/" and "%" left as they are.
url_safe = st.sampled_from(["", "/%"])


def uvicorn_scope(kind: str, target: str, headers: list, method: str = "GET") -> dict:
    """The scope uvicorn builds from a request line and its headers."""
    raw_path, _, query = target.encode("ascii").partition(b"?")
    return {
        "type": kind, "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": unquote(raw_path.decode("ascii")), "raw_path": raw_path, "query_string": query, "root_path": "",
        "headers": [(b"host", b"testserver"), *headers], "subprotocols": [], "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


@pytest.fixture
def call(transactional_db, user):
    """call(method, target) -> (status, body): one request with a token, through the whole ASGI app.
    Django runs each request in a thread of its own, on a connection of its own: the test's data is
    committed (transactional_db) so that the request sees it."""
    token = Token.objects.create(user=user).key

    def one_request(method: str, target: str) -> tuple[int, bytes]:
        scope = uvicorn_scope("http", target, [(b"authorization", f"Token {token}".encode())], method)

        async def exchange():
            communicator = ApplicationCommunicator(application, scope)
            await communicator.send_input({"type": "http.request", "body": b""})
            start = await communicator.receive_output(10)
            content = b""
            while True:
                message = await communicator.receive_output(10)
                content += message.get("body", b"")
                if not message.get("more_body"):
                    break
            await communicator.wait(10)
            return start["status"], content

        return async_to_sync(exchange)()

    return one_request


def job_id_endpoints() -> list:
    """(method, path template) for every URL that takes a job id, with each method its view has."""
    def routes(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from routes(pattern.url_patterns, route)
            elif "<str:job_id>" in route:
                yield "/" + route, pattern.callback.view_class

    return [
        pytest.param(method.upper(), route, id=f"{method.upper()} {route}")
        for route, view in routes(get_resolver().url_patterns, "")
        for method in ("get", "post") if hasattr(view, method)
    ]


ENDPOINTS = job_id_endpoints()


def test_every_job_endpoint_is_covered():
    routes = {param.values[1] for param in ENDPOINTS}
    assert {"/api/jobs/<str:job_id>", "/api/jobs/<str:job_id>/cancel", "/api/jobs/<str:job_id>/result",
            "/api/jobs/<str:job_id>/stream", "/api/jobs/<str:job_id>/deliveries"} <= routes


@pytest.mark.parametrize("method, route", ENDPOINTS)
@PROPERTY
@given(job_id=awkward_text, safe=url_safe)
@example(job_id="\x00", safe="").via("NUL")
@example(job_id="%00", safe="/%").via("percent-encoded NUL")
@example(job_id="\ud800", safe="").via("lone surrogate, as UTF-8 bytes")
@example(job_id="../..", safe="/%").via("dot segments")
def test_any_job_id_is_answered_without_a_server_error(call, method, route, job_id, safe):
    target = route.replace("<str:job_id>", quote(job_id, safe=safe, errors="surrogatepass"))
    status, body = call(method, target)
    assert status < 500, (target, body[:300])


@PROPERTY
@given(type_=awkward_text, status=st.one_of(awkward_text, st.sampled_from(["", *JobStatus.values])), safe=url_safe)
@example(type_="\x00", status="", safe="").via("NUL type")
@example(type_="\udfff", status="pending", safe="").via("lone surrogate type")
def test_any_list_filter_is_answered_without_a_server_error(call, type_, status, safe):
    query = urlencode({"type": type_, "status": status}, safe=safe, quote_via=quote, errors="surrogatepass")
    status_code, body = call("GET", f"/api/jobs/?{query}")
    assert status_code < 500, (query, body[:300])


@pytest.mark.parametrize("target", [
    "/api/jobs/%00", "/api/jobs/a%00b/stream", "/api/jobs/%ED%A0%80", "/api/jobs/%FF/cancel",
    "/api/jobs/?type=%00", "/api/jobs/?status=pending&type=x%00", "/api/jobs/?type=%C0%80", "/healthz?%00",
])
def test_nul_or_non_utf8_in_the_url_is_400_before_django(call, target):
    status, body = call("GET", target)
    assert status == 400 and "detail" in json.loads(body)


def unstorable(value) -> bool:
    """Any key or string holding NUL or a surrogate code point (the test's own reading)."""
    if isinstance(value, dict):
        return any(unstorable(key) or unstorable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(unstorable(item) for item in value)
    return isinstance(value, str) and any(char == "\x00" or "\ud800" <= char <= "\udfff" for char in value)


json_leaf = st.one_of(awkward_text, st.integers(), st.booleans(), st.none())
job_input = st.dictionaries(
    st.one_of(st.sampled_from(["label", "api_key", "seconds", "steps"]), awkward_text),
    st.one_of(json_leaf, st.lists(json_leaf, max_size=3), st.dictionaries(awkward_text, json_leaf, max_size=2)),
    max_size=4,
)


@PROPERTY
@given(type_=st.one_of(st.sampled_from(["diagnostics.secret", "diagnostics.sleep"]), awkward_text), input=job_input)
@example(type_="diagnostics.secret", input={"api_key": "k", "label": "a\x00b"}).via("NUL in a stored value")
@example(type_="diagnostics.sleep", input={"\ud800": 1}).via("lone surrogate as a field name")
@example(type_="diagnostics.sleep", input={"x\x00": [1]}).via("NUL in a key")
@example(type_="diagnostics.secret", input={"label": "\ud83d\ude00"}).via("a surrogate pair is one character")
def test_any_json_body_is_answered_without_a_server_error_and_refused_ones_store_nothing(api, type_, input):
    payload = {"type": type_, "input": input}
    jobs_before = Job.objects.count()

    # ensure_ascii: NUL and lone surrogates travel as \u escapes, as JSON allows.
    response = api.post("/api/jobs/", json.dumps(payload, ensure_ascii=True), content_type="application/json")

    assert response.status_code < 500, response.content[:300]
    if response.status_code != 202:
        assert Job.objects.count() == jobs_before
    # As the server reads it: JSON decoding joins a high and a low surrogate escape into one character.
    if unstorable(json.loads(json.dumps(payload))):
        assert response.status_code == 400 and "detail" in response.json()


@pytest.mark.parametrize("value, problem", [
    ("plain", None),
    ({"a": ["b", {"c": 1.5, "d": None}], "😀": "😀"}, None),
    ("a\x00b", "text at the top level contains a NUL character (\\u0000)"),
    ({"input": {"items": ["ok", "x\ud800"]}}, "text at /input/items/1 contains an unpaired surrogate (\\ud800)"),
    ({"input": {"a/b~": {"\udfff": 1}}}, "a key at /input/a~1b~0 contains an unpaired surrogate (\\udfff)"),
    ([[[[["\x00"]]]]], "text at /0/0/0/0/0 contains a NUL character (\\u0000)"),
])
def test_unstorable_text_error_says_what_and_where(value, problem):
    assert unstorable_text_error(value) == problem


def test_unstorable_text_error_walks_deep_values_without_recursion():
    value = "\x00"
    for _ in range(100_000):
        value = [value]
    assert "NUL" in unstorable_text_error(value)


def handshake(target: str, headers: list, **scope_extra) -> dict:
    """The application's answer to a WebSocket handshake: websocket.accept or websocket.close. (Channels'
    WebsocketCommunicator needs daphne, which the service does not install; this is the same exchange.)"""
    scope = {**uvicorn_scope("websocket", target, headers), **scope_extra}

    async def connect():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "websocket.connect"})
        answer = await communicator.receive_output(10)
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(10)
        return answer

    return async_to_sync(connect)()


@pytest.fixture
def token_header(transactional_db, user) -> list:
    """A good token: the consumer goes on to the job id, and Channels reads it on a thread of its own."""
    return [(b"authorization", f"Token {Token.objects.create(user=user).key}".encode())]


@pytest.mark.parametrize("path", [
    "/ws/jobs/%00/", "/ws/jobs/x%00y/", "/ws/jobs/%ED%A0%80/", "/ws/jobs/?token=%00", "/ws/jobs/?ticket=%00",
    "/ws/jobs/?token=%FF",
])
def test_a_websocket_handshake_with_nul_or_non_utf8_is_refused(token_header, path):
    assert handshake(path, token_header)["type"] == "websocket.close"


@pytest.mark.parametrize("headers, subprotocols", [
    ([(b"authorization", b"Token \xff\xfe")], None),  # not UTF-8
    ([(b"authorization", b"Token abc\x00def")], None),
    ([(b"authorization", b"Token " + b"a" * 5000)], None),
    ([], ["token", "\u00e9\x00"]),
])
def test_a_websocket_handshake_with_malformed_credentials_is_refused(transactional_db, headers, subprotocols):
    scope_extra = {"subprotocols": subprotocols} if subprotocols else {}
    assert handshake("/ws/jobs/", headers, **scope_extra)["type"] == "websocket.close"


def test_a_websocket_with_a_good_token_still_connects(token_header):
    assert handshake("/ws/jobs/", token_header)["type"] == "websocket.accept"
