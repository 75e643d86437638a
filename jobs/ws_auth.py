"""WebSocket authentication: session cookie (browsers), a one-time stream ticket, or an API token.

A ticket (POST /api/stream-tickets) comes as `?ticket=<ticket>`. A token comes as the subprotocol
pair `["token", "<key>"]` or as an `Authorization: Token <key>` header, never in the URL, which
access logs and proxies record. Browsers must also pass the origin check.
"""
from __future__ import annotations

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from .api.authentication import token_with_user
from .api.tickets import TICKET_QUERY_PARAMETER, stream_ticket_redeem


def ticket_from_scope(scope) -> str | None:
    tickets = parse_qs(scope.get("query_string", b"").decode(errors="replace")).get(TICKET_QUERY_PARAMETER)
    return tickets[0] if tickets else None


def token_from_scope(scope) -> str | None:
    subprotocols = scope.get("subprotocols", [])
    if "token" in subprotocols and subprotocols.index("token") + 1 < len(subprotocols):
        return subprotocols[subprotocols.index("token") + 1]
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value.lower().startswith(b"token "):
            return value[6:].decode(errors="replace").strip()  # a malformed key matches no token
    return None


@database_sync_to_async
def user_for_token(key: str):
    token = token_with_user(key)
    return token.user if token and token.user.is_active else AnonymousUser()


@database_sync_to_async
def user_for_ticket(ticket: str):
    return stream_ticket_redeem(ticket) or AnonymousUser()


class TokenAuthMiddleware:
    """Uses the ticket or the token when one is given; otherwise leaves the session user in place.
    A wrong one leaves the socket anonymous (refused), not the session's."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        ticket, key = ticket_from_scope(scope), token_from_scope(scope)
        if ticket is not None:
            scope = dict(scope, user=await user_for_ticket(ticket))
        elif key is not None:
            scope = dict(scope, user=await user_for_token(key))
        return await self.app(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Refuses cross-site browser sockets (which would ride a victim's session cookie), while
    letting non-browser clients, which send no Origin header, through to token authentication."""

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or super().valid_origin(parsed_origin)


def websocket_auth(app):
    hosts = list(settings.ALLOWED_HOSTS) or ["localhost"]
    return BrowserOriginValidator(AuthMiddlewareStack(TokenAuthMiddleware(app)), hosts)


