"""ASGI entry point: a guard against oversized and unreadable requests, then HTTP through Django and
WebSockets through Channels."""
from __future__ import annotations

import asyncio
import gc
import os
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402
from asgiref.sync import ThreadSensitiveContext, sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402


class SyncViewsASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware chain built for sync code. Every view here is
    sync (SSE streams from a sync view too); under ASGI Django would run each middleware hook
    through sync_to_async, about a dozen hops between the event loop and a thread per request.
    Here the middleware and the view run together in the request's thread: one hop.

    At most WEB_REQUEST_CONCURRENCY requests run at once; the others wait their turn in arrival
    order. Python runs one thread at a time, so more would not be faster, only less fair: a request
    would wait behind every other one at each database or Redis answer (the long tail of latency).

    Each request's thread is kept for the next one. Django gives every request a new
    ThreadSensitiveContext, whose executor starts a thread and joins it when the request ends: a
    tenth of a submit's time went to starting and joining threads. Here a request borrows an idle
    executor of one thread (asgiref's ThreadSensitiveContext(executor=...), which the caller owns)
    and returns it afterwards; at most as many threads exist as requests were ever in flight at
    once, streams included.

    Leans on Django internals, written against Django 5.2: `BaseHandler.load_middleware(is_async)`
    builds `self._middleware_chain`, and `ASGIHandler` answers each request through
    `get_response_async` (defined on BaseHandler), which this class overrides, and its `__call__`
    wraps `handle` in a fresh ThreadSensitiveContext, which this class replaces.
    tests/test_internals.py fails loudly if any of it changes shape."""

    def __init__(self):
        super().__init__()
        self.turns = asyncio.Semaphore(settings.WEB_REQUEST_CONCURRENCY)
        self.idle_threads: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self.idle_threads.pop() if self.idle_threads else ThreadPoolExecutor(1, "request")
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            self.idle_threads.append(thread)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        respond = sync_to_async(self.get_response, thread_sensitive=True)
        if request.path_info in UNQUEUED_PATHS:
            return await respond(request)
        async with self.turns:
            return await respond(request)


# Liveness checks answer at once, however busy the process: a load balancer must not take a
# process out of service because its requests are queued.
UNQUEUED_PATHS = frozenset({"/healthz"})


# Django must be set up before anything imports models.
django.setup(set_prefix=False)

from config.log_redaction import redact_server_logs  # noqa: E402

# uvicorn logs each request line and WebSocket handshake with its query string.
redact_server_logs()
django_asgi_app = SyncViewsASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.guard import RequestGuard  # noqa: E402
from jobs.routing import websocket_urlpatterns  # noqa: E402
from jobs.ws_auth import websocket_auth  # noqa: E402

# The guard comes first, in front of authentication: see config/guard.py.
application = RequestGuard(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": websocket_auth(URLRouter(websocket_urlpatterns)),
        }
    ),
    max_body=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    anonymous_max_body=settings.WEB_ANONYMOUS_MAX_BODY_BYTES,
    session_cookie=settings.SESSION_COOKIE_NAME,
)

# What is loaded by now lives as long as the process: keep it out of the garbage collector's full
# passes, which otherwise paused requests for tens of milliseconds (the p99 of a submit).
# CPython 3.7+ (gc.freeze); tests/test_internals.py checks that a served process has frozen objects.
gc.freeze()
