"""Stream tickets: a credential for one WebSocket or SSE connection, in place of an API token in
the URL (URLs end up in access logs, proxies and browser history).

POST /api/stream-tickets answers a random ticket, good for one connection opened within
JOBS_STREAM_TICKET_SECONDS. Redis holds only its hash and the user's id, and the first connection
that presents it takes it (GETDEL): a ticket read from a log afterwards opens nothing.
"""
from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.cache import cache_redis

TICKET_QUERY_PARAMETER = "ticket"


def _key(ticket: str) -> str:
    return cache.make_key("stream-ticket:" + hashlib.sha256(ticket.encode()).hexdigest())


def stream_ticket_issue(user) -> str:
    ticket = secrets.token_urlsafe(32)
    key = _key(ticket)
    cache_redis(key).set(key, user.pk, ex=settings.JOBS_STREAM_TICKET_SECONDS)
    return ticket


def stream_ticket_redeem(ticket: str):
    """The active user the ticket was issued to, or None (unknown, expired, used, or Redis down).
    The ticket is spent either way."""
    if not ticket or len(ticket) > 100:
        return None
    try:
        key = _key(ticket)
        user_id = cache_redis(key).getdel(key)  # Django's cache API has no get-and-delete
    except (RedisError, OSError):
        return None
    if user_id is None:
        return None
    return get_user_model().objects.filter(pk=int(user_id), is_active=True).first()


class StreamTicketAuthentication(authentication.BaseAuthentication):
    """`?ticket=<ticket>` on the SSE stream (EventSource cannot send headers)."""

    def authenticate(self, request):
        ticket = request.query_params.get(TICKET_QUERY_PARAMETER)
        if ticket is None:
            return None
        user = stream_ticket_redeem(ticket)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or already used stream ticket.")
        return user, None


class StreamTicketView(APIView):
    @extend_schema(
        request=None,
        responses={
            201: inline_serializer("StreamTicket", {"ticket": serializers.CharField(),
                                                     "expires_in": serializers.IntegerField()}),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="Redis is unavailable."),
        },
    )
    def post(self, request: Request) -> Response:
        """A ticket for one WebSocket (`?ticket=`) or SSE (`?ticket=`) connection, opened within `expires_in` seconds."""
        try:
            ticket = stream_ticket_issue(request.user)
        except (RedisError, OSError):
            return Response({"detail": "Tickets are unavailable; use a session or the Authorization header."},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"ticket": ticket, "expires_in": settings.JOBS_STREAM_TICKET_SECONDS},
                        status=status.HTTP_201_CREATED)

