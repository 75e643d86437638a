"""Live events: the publisher against the real channel layer (Redis), and the subscribers' filters."""
from __future__ import annotations

import asyncio
import time
import uuid

from channels.layers import get_channel_layer

from jobs import events


def event(job_id: str, type_: str, progress: int, attempts: int = 1) -> dict:
    status = "running" if type_ == "progress" else type_
    return {"type": type_, "at": time.time(), "job": {"id": job_id, "status": status, "progress": progress, "attempts": attempts}}


def received_by_a_follower(job_id: str, send, last: str, settle: float = 0.4, arrivals: list | None = None) -> list[tuple[str, int]]:
    """Join the job's group on a fresh channel, call send(), and collect what arrives until an
    event of type `last` has come (at most 10 s), then `settle` seconds more for stragglers (with
    `arrivals`, also how many seconds after send() each message came)."""

    async def follow():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(events.job_group(job_id), channel)
        try:
            sent = time.monotonic()
            send()
            got, deadline = [], sent + 10
            while (left := deadline - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), left)
                except asyncio.TimeoutError:
                    break
                got.append((message["event"]["type"], message["event"]["job"]["progress"]))
                if arrivals is not None:
                    arrivals.append(time.monotonic() - sent)
                if got[-1][0] == last:
                    deadline = min(deadline, time.monotonic() + settle)
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

    got = received_by_a_follower(job_id, send, last="completed")
    # Progress still queued when a newer event comes may be dropped; what arrives is in order
    # and ends with the terminal event.
    assert got[-1] == ("completed", 100)
    assert [p for _, p in got] == sorted(p for _, p in got)


def test_a_held_event_is_dropped_when_the_job_moves_on_within_the_hold():
    job_id = uuid.uuid4().hex

    def send():
        events.publish(event(job_id, "progress", 0), owner_id=0, hold=0.3)
        events.publish(event(job_id, "completed", 100), owner_id=0)

    assert received_by_a_follower(job_id, send, last="completed", settle=0.6) == [("completed", 100)]


def test_a_held_event_is_sent_once_the_hold_passes_with_nothing_newer():
    job_id = uuid.uuid4().hex
    arrivals = []

    def send():
        events.publish(event(job_id, "progress", 0), owner_id=0, hold=0.2)

    assert received_by_a_follower(job_id, send, last="progress", arrivals=arrivals) == [("progress", 0)]
    assert arrivals[0] >= 0.2


def test_terminal_events_are_never_coalesced_away():
    job_id = uuid.uuid4().hex

    def send():
        # A failed job replayed and cancelled at once: both terminal events arrive.
        events.publish(event(job_id, "failed", 40), owner_id=0)
        events.publish(event(job_id, "progress", 0, attempts=2), owner_id=0, hold=0.1)
        events.publish(event(job_id, "cancelled", 0, attempts=2), owner_id=0)

    assert received_by_a_follower(job_id, send, last="cancelled", settle=0.4) == [("failed", 40), ("cancelled", 0)]


def test_a_follower_of_many_jobs_sees_each_job_move_forward_only():
    filters = events.JobEventFilters()
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    seen = [
        filters.admit(e) for e in (
            event(a, "progress", 0),
            event(b, "progress", 10),
            event(a, "cancelled", 0),        # cancelled by the web process ...
            event(a, "progress", 0),         # ... then the worker's held "running" of that attempt
            event(b, "progress", 5),         # progress never goes backwards
            event(b, "failed", 10),
            event(b, "progress", 0, attempts=2),  # a replay: the next attempt starts
            event(b, "completed", 100, attempts=2),
        )
    ]
    assert seen == [True, True, True, False, False, True, True, True]


def test_the_follower_of_one_job_hears_nothing_after_its_terminal_event():
    job_filter = events.JobEventFilter()
    job = uuid.uuid4().hex
    assert job_filter.admit(event(job, "progress", 10))
    assert job_filter.admit(event(job, "completed", 100))
    assert not job_filter.admit(event(job, "progress", 0, attempts=2))
    assert job_filter.finished
