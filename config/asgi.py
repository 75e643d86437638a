"""ASGI entry point: HTTP through Django, WebSockets through Channels."""
from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402


class SyncViewsASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware chain built for sync code. Every view here is
    sync (SSE streams from a sync view too); under ASGI Django would run each middleware hook
    through sync_to_async, about a dozen hops between the event loop and a thread per request.
    Here the middleware and the view run together in the request's thread: one hop."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


# Django must be set up before anything imports models.
django.setup(set_prefix=False)
django_asgi_app = SyncViewsASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from jobs.routing import websocket_urlpatterns  # noqa: E402
from jobs.ws_auth import websocket_auth  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_auth(URLRouter(websocket_urlpatterns)),
    }
)
