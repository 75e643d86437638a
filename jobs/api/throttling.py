"""Per-user limit on submitting jobs, counted in the shared (Redis) cache so that every web process
sees the same count. Exceeding it answers 429 with Retry-After."""
from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from redis.commands.core import Script
from redis.exceptions import RedisError
from rest_framework.throttling import UserRateThrottle

from common.cache import cache_redis

from .authentication import auth_epoch_key, confirm_remembered_token

logger = logging.getLogger(__name__)

# DRF's sliding window (at most N requests in any `duration` seconds), kept in Redis as a sorted
# set of request times and checked and updated in one round trip, on Redis's clock (web hosts'
# clocks may differ). DRF's own throttle reads the whole history, unpickles it, appends and writes
# it back: two round trips and a payload that grows with the rate. Returns -1 when the request is
# allowed, else the seconds until the oldest request in the window leaves it; and the auth epoch
# (KEYS[2], jobs/api/authentication.py), which saves a submit the round trip that asks for it.
_TAKE = Script(None, b"""
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  -- Redis lost it: a new value (this request's random id), never an old one, under which no
  -- token is remembered yet.
  redis.call('SET', KEYS[2], ARGV[3], 'NX')
  epoch = redis.call('GET', KEYS[2])
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local duration, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - duration)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  return {tostring(oldest + duration - now), epoch}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(duration * 1000))
return {'-1', epoch}
""")


class SubmitRateThrottle(UserRateThrottle):
    """JOBS_SUBMIT_RATE per user (per address when anonymous), on POST only: reading and polling
    jobs is not limited."""

    scope = "jobs_submit"
    # Not DRF's key: that one holds a pickled list, which a sorted-set command cannot read.
    cache_format = "throttle_%(scope)s_%(ident)s:window"

    def get_rate(self) -> str:
        return settings.JOBS_SUBMIT_RATE

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        self.num_requests, self.duration = self.parse_rate(self.get_rate())
        key = cache.make_key(self.get_cache_key(request, view))  # the cache's prefix and version
        try:
            retry_after, epoch = _TAKE(
                keys=[key, auth_epoch_key()], args=[self.duration, self.num_requests, uuid.uuid4().hex],
                client=cache_redis(key),
            )
        except (RedisError, OSError):
            # Fail open: with Redis down, a submission still lands in the database (202) and the
            # dispatcher publishes it later; a lost rate limit is the lesser harm than a lost job.
            logger.warning("Submit throttle unavailable (cache error); allowing the request.", exc_info=True)
            confirm_remembered_token(request, None)
            return True
        confirm_remembered_token(request, epoch.decode())
        self.retry_after = float(retry_after)
        return self.retry_after < 0

    def wait(self) -> float:
        """Seconds until the oldest request in the window leaves it (Retry-After)."""
        return max(0.0, self.retry_after)
