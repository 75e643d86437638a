"""Live job events: published to channel-layer groups, consumed by the WebSocket and SSE endpoints.

An event is `{"type": "progress" | "completed" | "failed" | "cancelled", "at": <unix time of the
change>, "job": {the job as the API shows it}}`. Each goes to the job's group, its owner's group and
the staff group.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

from channels.layers import get_channel_layer

from .models import Job

logger = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
STAFF_GROUP = "jobs.staff"
PUBLISH_TIMEOUT = 2.0


def job_group(job_id: str) -> str:
    return f"jobs.job.{job_id}"


def owner_group(owner_id: int) -> str:
    return f"jobs.owner.{owner_id}"


def event_type_for(status: str) -> str:
    return status if status in TERMINAL_EVENTS else "progress"


def job_payload(job: Job) -> dict:
    from .api.serializers import JobSerializer

    return JobSerializer(job).data


class JobEventFilter:
    """What one subscriber of one job is sent: the snapshot, then only events that move forward
    (a later attempt, or more progress in the same one), and nothing after the terminal event.
    Events can arrive out of order with a snapshot read from the database; this hides that."""

    def __init__(self) -> None:
        self.position: tuple[int, int] | None = None
        self.finished = False

    def admit(self, event: dict) -> bool:
        if self.finished:
            return False
        job = event["job"]
        position = (job["attempts"], job["progress"])
        terminal = job["status"] in TERMINAL_EVENTS
        if not terminal and self.position is not None and position < self.position:
            return False
        self.position, self.finished = position, terminal
        return True


class _LoopThread:
    """One event loop per process for publishing from sync code, so the channel layer keeps its
    Redis connections instead of opening new ones for every event (as async_to_sync would)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="job-events", daemon=True).start()

    def run(self, coroutine, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


_loop: _LoopThread | None = None
_loop_lock = threading.Lock()


def _publisher() -> _LoopThread:
    global _loop
    with _loop_lock:
        # A forked worker process must not use its parent's (dead) loop thread.
        if _loop is None or _loop.pid != os.getpid():
            _loop = _LoopThread()
        return _loop


async def _send(groups: list[str], message: dict) -> None:
    layer = get_channel_layer()
    await asyncio.gather(*(layer.group_send(group, message) for group in groups))


def publish(event: dict, owner_id: int) -> None:
    """Send an event to everyone following the job. A push that fails is logged, never raised:
    the database is the record, and clients that missed an event resync from the snapshot."""
    groups = [job_group(event["job"]["id"]), owner_group(owner_id), STAFF_GROUP]
    try:
        _publisher().run(_send(groups, {"type": "job.event", "event": event}), PUBLISH_TIMEOUT)
    except Exception:
        logger.warning("Could not push %s event for job %s.", event["type"], event["job"]["id"], exc_info=True)


def job_event(job: Job, at: float | None = None) -> dict:
    return {"type": event_type_for(job.status), "at": at or time.time(), "job": job_payload(job)}


def job_publish_state(job_id: str) -> None:
    """Read the job as it is now and push it to its followers."""
    job = Job.objects.filter(id=job_id).first()
    if job is not None:
        publish(job_event(job), job.owner_id)


def job_snapshot(job: Job) -> dict:
    return {"type": "snapshot", "at": time.time(), "job": job_payload(job)}
