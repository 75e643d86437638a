"""channels_redis's layer, with one message sent to several groups in one or two round trips.

`group_send` costs two round trips per group before it knows whether anyone listens (expire old
members, then list them) and two more per group that has members. A job's event goes to three
groups (the job's, its owner's, the staff's), on every progress report and at every job's end:
twelve commands, most to empty groups. `group_send_many` lists every group's members in one script
per Redis host, then delivers to all of them in one pipeline per host, with the same expiry,
capacity and per-channel messages as `group_send`.
"""
from __future__ import annotations

import collections
import logging
import time

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer

logger = logging.getLogger(__name__)

# For each group key: drop members older than ARGV[1], then list the rest.
_GROUP_MEMBERS = """
local members = {}
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[1])
    members[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
end
return members
"""

# channels_redis's own delivery script (group_send): add the message to each channel that has room.
_DELIVER = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i=1,#KEYS do
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class RedisChannelLayer(_RedisChannelLayer):
    async def group_send_many(self, groups: list[str], message: dict) -> None:
        """`group_send(group, message)` for each of `groups` (distinct names): a channel in two of
        them gets the message twice, as it would from two calls."""
        by_host = collections.defaultdict(list)
        for group in groups:
            assert self.require_valid_group_name(group), "Group name not valid"
            by_host[self.consistent_hash(group)].append(group)
        members = {}
        for index, host_groups in by_host.items():
            connection = self.connection(index)
            found = await connection.eval(
                _GROUP_MEMBERS, len(host_groups), *map(self._group_key, host_groups), int(time.time()) - self.group_expiry
            )
            members.update((group, [name.decode("utf8") for name in names]) for group, names in zip(host_groups, found) if names)
        if members:
            await self._deliver(members, message)

    async def _deliver(self, members: dict[str, list[str]], message: dict) -> None:
        """Add the message to every member channel of every group, one pipeline per Redis host."""
        pipelines, evals = {}, []
        for group, channel_names in members.items():
            by_host, channel_messages, capacities = self._map_channel_keys_to_connection(channel_names, message)
            for index, channel_keys in by_host.items():
                if index not in pipelines:
                    pipelines[index] = self.connection(index).pipeline(transaction=False)
                pipeline = pipelines[index]
                for key in channel_keys:
                    pipeline.zremrangebyscore(key, min=0, max=int(time.time()) - int(self.expiry))
                pipeline.eval(
                    _DELIVER, len(channel_keys), *channel_keys,
                    *(channel_messages[key] for key in channel_keys), *(capacities[key] for key in channel_keys),
                    time.time(), self.expiry,
                )
                evals.append((index, len(pipeline) - 1, group, len(channel_names)))
        replies = {index: await pipeline.execute() for index, pipeline in pipelines.items()}
        for index, position, group, channel_count in evals:
            if replies[index][position] > 0:
                logger.info("%s of %s channels over capacity in group %s", replies[index][position], channel_count, group)
