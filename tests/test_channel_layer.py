"""common.channel_layer's group_send_many against real Redis: what each channel receives is what
channels_redis's group_send, called once per group, would have given it."""
from __future__ import annotations

import asyncio
import time
import uuid

from channels.layers import get_channel_layer
from django.conf import settings

from common.channel_layer import RedisChannelLayer


def fresh_layer(**config) -> RedisChannelLayer:
    """A layer of its own, so that settings like capacity can differ from the project's."""
    return RedisChannelLayer(hosts=[{"address": settings.REDIS_URL, "socket_timeout": 15}], **config)


async def drain(layer, channel: str, wait: float = 0.3) -> list[dict]:
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(layer.receive(channel), wait))
        except asyncio.TimeoutError:
            return got


def names(prefix: str, count: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{prefix}.{tag}.{i}" for i in range(count)]


def test_the_project_uses_it():
    assert isinstance(get_channel_layer(), RedisChannelLayer)


def test_each_group_member_gets_the_message_once_per_group_it_is_in():
    async def scenario():
        layer = fresh_layer()
        a, b, empty = names("g", 3)
        only_a, both, process_local = await layer.new_channel(), await layer.new_channel(), await layer.new_channel()
        plain = f"plain.{uuid.uuid4().hex}"  # a channel that is not process-local (no "!")
        for group, channel in ((a, only_a), (a, both), (b, both), (b, process_local), (a, plain)):
            await layer.group_add(group, channel)
        await layer.group_send_many([a, b, empty], {"type": "job.event", "n": 1})
        received = {name: await drain(layer, name) for name in (only_a, both, process_local, plain)}
        await layer.flush()
        return received

    received = asyncio.run(scenario())
    counts = {name: [m["n"] for m in messages] for name, messages in received.items()}
    assert sorted(len(v) for v in counts.values()) == [1, 1, 1, 2]
    assert all(m == {"type": "job.event", "n": 1} for messages in received.values() for m in messages)


def test_nobody_listening_writes_nothing():
    async def scenario():
        layer = fresh_layer()
        groups = names("nobody", 3)
        connection = layer.connection(0)
        keys_before = await connection.dbsize()
        await layer.group_send_many(groups, {"type": "job.event"})
        keys_after = await connection.dbsize()
        await layer.flush()
        return keys_before, keys_after

    before, after = asyncio.run(scenario())
    assert after == before


def test_members_past_the_group_expiry_are_dropped_and_not_sent_to():
    async def scenario():
        layer = fresh_layer(group_expiry=60)
        (group,) = names("expiring", 1)
        stale, live = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(group, stale)
        await layer.group_add(group, live)
        # Make the stale member two minutes old, as if its consumer died without leaving.
        await layer.connection(0).zadd(layer._group_key(group), {stale: int(time.time()) - 120})
        await layer.group_send_many([group], {"type": "job.event"})
        got = {channel: await drain(layer, channel) for channel in (stale, live)}
        members = await layer.connection(0).zrange(layer._group_key(group), 0, -1)
        await layer.flush()
        return got[stale], got[live], [m.decode() for m in members]

    stale_got, live_got, members = asyncio.run(scenario())
    assert stale_got == [] and len(live_got) == 1
    assert len(members) == 1


def test_a_full_channel_is_skipped_as_group_send_skips_it():
    async def scenario():
        layer = fresh_layer(capacity=2)
        (group,) = names("full", 1)
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        for n in range(4):
            await layer.group_send_many([group], {"type": "job.event", "n": n})
        got = await drain(layer, channel)
        await layer.flush()
        return [m["n"] for m in got]

    assert asyncio.run(scenario()) == [0, 1]


def test_an_invalid_group_name_is_refused_before_anything_is_sent():
    async def scenario():
        layer = fresh_layer()
        (group,) = names("valid", 1)
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await layer.group_send_many([group, "not valid!"], {"type": "job.event"})
        except (AssertionError, TypeError) as exc:
            error = exc
        else:
            error = None
        got = await drain(layer, channel)
        await layer.flush()
        return error, got

    error, got = asyncio.run(scenario())
    assert error is not None and got == []
