"""GET /api/jobs/{id}/stream: the job's events as Server-Sent Events."""
from __future__ import annotations

import asyncio
import json

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from .. import events, selectors
from ..models import Job
from .authentication import TokenAuthentication
from .tickets import StreamTicketAuthentication


class EventStreamRenderer(BaseRenderer):
    """Lets clients ask for text/event-stream; error answers are still rendered as JSON."""

    media_type = "text/event-stream"
    format = "event-stream"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


def sse_message(event: dict, event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


@database_sync_to_async
def _snapshot(job_id: str) -> dict:
    return events.job_snapshot(Job.objects.get(id=job_id))


async def job_event_stream(job_id: str, heartbeat: float):
    """A snapshot, then forward-moving events, a comment line every `heartbeat` seconds of
    silence, and the end of the stream right after the terminal event."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = events.job_group(job_id)
    # Join before reading the snapshot, so that nothing published in between is missed.
    await layer.group_add(group, channel)
    try:
        event_filter = events.JobEventFilter()
        snapshot = await _snapshot(job_id)
        event_filter.admit(snapshot)
        sent = 1
        yield sse_message(snapshot, sent)
        while not event_filter.finished:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=heartbeat)
            except asyncio.TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if event_filter.admit(message["event"]):
                sent += 1
                yield sse_message(message["event"], sent)
    finally:
        await layer.group_discard(group, channel)


class JobStreamView(APIView):
    renderer_classes = [EventStreamRenderer, JSONRenderer]
    # EventSource cannot send headers: besides the session, a one-time ticket (POST /api/stream-tickets).
    authentication_classes = [TokenAuthentication, StreamTicketAuthentication, SessionAuthentication]

    @extend_schema(responses={(200, "text/event-stream"): OpenApiTypes.STR})
    def get(self, request: Request, job_id: str):
        job = selectors.job_get_for_user(request.user, job_id)  # 401/404 before any streaming
        response = StreamingHttpResponse(
            job_event_stream(job.id, settings.JOBS_SSE_HEARTBEAT_SECONDS), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # tell proxies not to buffer the stream
        return response
