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
from collections import OrderedDict
from functools import partial

from channels.layers import get_channel_layer
from django.db import transaction

from .models import Job
from .representation import job_representation

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
    return job_representation(job)


class JobEventFilter:
    """What one subscriber of one job is sent: the snapshot, then only events that move forward
    (a later attempt, the end of an attempt, or more progress in it), and nothing after the
    terminal event. Events can arrive out of order with a snapshot read from the database, or from
    different processes (a worker's "running" held for the coalescing window, the web's "cancelled");
    this hides that. With `after_terminal`, a later attempt (a replay) is admitted after the
    terminal event, for subscribers that follow many jobs."""

    def __init__(self, after_terminal: bool = False) -> None:
        self.position: tuple[int, bool, int] | None = None
        self.finished = False
        self.after_terminal = after_terminal

    def admit(self, event: dict) -> bool:
        if self.finished and not self.after_terminal:
            return False
        job = event["job"]
        terminal = job["status"] in TERMINAL_EVENTS
        position = (job["attempts"], terminal, job["progress"])
        if self.position is not None and position < self.position and not (terminal and not self.finished):
            return False
        self.position, self.finished = position, terminal
        return True


class JobEventFilters:
    """A JobEventFilter per job, for a subscriber of many jobs; the least recently heard-of jobs
    are forgotten beyond `size`."""

    def __init__(self, size: int = 1000) -> None:
        self.filters: OrderedDict[str, JobEventFilter] = OrderedDict()
        self.size = size

    def admit(self, event: dict) -> bool:
        job_id = event["job"]["id"]
        event_filter = self.filters.pop(job_id, None) or JobEventFilter(after_terminal=True)
        self.filters[job_id] = event_filter
        if len(self.filters) > self.size:
            self.filters.popitem(last=False)
        return event_filter.admit(event)


class _Publisher:
    """One event loop thread per process sends the events of sync code (workers, views) in order,
    without making the caller wait, over connections the channel layer keeps open (async_to_sync
    would open new ones for every event).

    Events are coalesced per job: a progress event still waiting to be sent when a newer event of
    the same job arrives is dropped (the newer one carries the whole job), and an event submitted
    with a hold waits that long first, so a job that finishes within it sends only its terminal
    event. Terminal events are always sent."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue | None = None
        # job id -> sequence number of its newest event (touched on the loop thread only)
        self.newest: dict[str, int] = {}
        self.sequence = 0
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), name="job-events", daemon=True).start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.queue = asyncio.Queue()
        self.loop.create_task(self._send_in_order())
        ready.set()
        self.loop.run_forever()

    def _accept(self, groups: list[str], message: dict, hold: float) -> None:
        self.sequence += 1
        self.newest[message["event"]["job"]["id"]] = self.sequence
        item = (self.sequence, groups, message)
        if hold > 0:
            self.loop.call_later(hold, self.queue.put_nowait, item)
        else:
            self.queue.put_nowait(item)

    async def _send_in_order(self) -> None:
        layer = get_channel_layer()  # common.channel_layer's: one round trip for the three groups
        while True:
            sequence, groups, message = await self.queue.get()
            event = message["event"]
            job_id = event["job"]["id"]
            newest = self.newest.get(job_id)
            if newest == sequence:
                del self.newest[job_id]
            elif event["type"] not in TERMINAL_EVENTS:
                continue  # superseded by a newer event of the same job
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    await layer.group_send_many(groups, message)
            except Exception:
                logger.warning("Could not push %s event for job %s.", event["type"], job_id, exc_info=True)

    def submit(self, groups: list[str], message: dict, hold: float = 0.0) -> None:
        self.loop.call_soon_threadsafe(self._accept, groups, message, hold)


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def _get_publisher() -> _Publisher:
    global _publisher
    with _publisher_lock:
        # A forked worker process must not use its parent's (dead) loop thread.
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
        return _publisher


def publish(event: dict, owner_id: int, hold: float = 0.0) -> None:
    """Send an event to everyone following the job, without waiting for it; with `hold`, only if
    no newer event of the job comes within that many seconds. A push that fails is logged, never
    raised: the database is the record, and clients resync from the snapshot."""
    groups = [job_group(event["job"]["id"]), owner_group(owner_id), STAFF_GROUP]
    _get_publisher().submit(groups, {"type": "job.event", "event": event}, hold)


def job_event(job: Job, at: float | None = None) -> dict:
    return {"type": event_type_for(job.status), "at": at or time.time(), "job": job_payload(job)}


def job_changed(job: Job, *, hold: float = 0.0, at: float | None = None) -> None:
    """The one way the engine tells followers about a job: push this state of it once the current
    transaction commits (at once outside one). `at` is when the change happened (default: now);
    with `hold`, see publish."""
    transaction.on_commit(partial(publish, job_event(job, at), job.owner_id, hold))


def job_snapshot(job: Job) -> dict:
    return {"type": "snapshot", "at": time.time(), "job": job_payload(job)}
