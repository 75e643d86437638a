"""The live-event publisher, against the real channel layer (Redis): order, coalescing, holds."""
from __future__ import annotations

import asyncio
import time
import uuid

from channels.layers import get_channel_layer

from jobs import events


def event(job_id: str, type_: str, progress: int) -> dict:
    return {"type": type_, "at": time.time(), "job": {"id": job_id, "progress": progress}}


def received_by_a_follower(job_id: str, send, wait: float = 0.6, arrivals: list | None = None) -> list[tuple[str, int]]:
    """Join the job's group on a fresh channel, call send(), and collect what arrives in `wait` s
    (with `arrivals`, also how many seconds after send() each message came)."""

    async def follow():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(events.job_group(job_id), channel)
        try:
            sent = time.monotonic()
            send()
            got, deadline = [], time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), left)
                except asyncio.TimeoutError:
                    break
                got.append((message["event"]["type"], message["event"]["job"]["progress"]))
                if arrivals is not None:
                    arrivals.append(time.monotonic() - sent)
            return got
        finally:
            await layer.group_discard(events.job_group(job_id), channel)

    return asyncio.run(follow())


def test_events_arrive_in_order():
    job_id = uuid.uuid4().hex

    def send():
        for percent in (10, 20, 30):
            events.publish(event(job_id, "progress", percent), owner_id=0)
        events.publish(event(job_id, "completed", 100), owner_id=0)

    got = received_by_a_follower(job_id, send)
    # Progress still queued when a newer event comes may be dropped; what arrives is in order
    # and ends with the terminal event.
    assert got[-1] == ("completed", 100)
    assert [p for _, p in got] == sorted(p for _, p in got)


def test_a_held_event_is_dropped_when_the_job_moves_on_within_the_hold():
    job_id = uuid.uuid4().hex

    def send():
        events.publish(event(job_id, "progress", 0), owner_id=0, hold=0.3)
        events.publish(event(job_id, "completed", 100), owner_id=0)

    assert received_by_a_follower(job_id, send) == [("completed", 100)]


def test_a_held_event_is_sent_once_the_hold_passes_with_nothing_newer():
    job_id = uuid.uuid4().hex
    arrivals = []

    def send():
        events.publish(event(job_id, "progress", 0), owner_id=0, hold=0.2)

    assert received_by_a_follower(job_id, send, arrivals=arrivals) == [("progress", 0)]
    assert arrivals[0] >= 0.2


def test_terminal_events_are_never_coalesced_away():
    job_id = uuid.uuid4().hex

    def send():
        # A failed job replayed at once: both terminal events and the newest progress arrive.
        events.publish(event(job_id, "failed", 40), owner_id=0)
        events.publish(event(job_id, "progress", 0), owner_id=0, hold=0.1)
        events.publish(event(job_id, "cancelled", 0), owner_id=0)

    assert received_by_a_follower(job_id, send) == [("failed", 40), ("cancelled", 0)]
