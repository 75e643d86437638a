"""Per-user limit on submitting jobs, counted in the shared (Redis) cache so that every web process
sees the same count. Exceeding it answers 429 with Retry-After."""
from __future__ import annotations

import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from redis.commands.core import Script
from rest_framework.throttling import UserRateThrottle

logger = logging.getLogger(__name__)

# DRF's sliding window (the requests of the last `duration` seconds), kept in Redis as a sorted set
# of request times and checked and updated in one round trip. DRF's own throttle reads the whole
# history, unpickles, appends and writes it back: two round trips and a payload that grows with the
# rate. Returns 0 when the request is allowed, else the time of the oldest request in the window.
_TAKE = Script(None, b"""
local now, duration, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - duration)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(duration * 1000))
return 0
""")


class SubmitRateThrottle(UserRateThrottle):
    """JOBS_SUBMIT_RATE per user (per address when anonymous), on POST only: reading and polling
    jobs is not limited."""

    scope = "jobs_submit"

    def get_rate(self) -> str:
        return settings.JOBS_SUBMIT_RATE

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        self.num_requests, self.duration = self.parse_rate(self.get_rate())
        self.now = time.time()
        try:
            self.oldest = float(self.take(self.redis_key(request, view)))
        except Exception:
            # Fail open: with Redis down, a submission still lands in the database (202) and the
            # dispatcher publishes it later; a lost rate limit is the lesser harm than a lost job.
            logger.warning("Submit throttle unavailable (cache error); allowing the request.", exc_info=True)
            return True
        return not self.oldest

    def wait(self) -> float:
        """Seconds until the oldest request in the window leaves it (Retry-After)."""
        return max(0.0, self.duration - (self.now - self.oldest))

    def redis_key(self, request, view) -> str:
        """The key in Redis: the cache's own key for this user's count (prefix and version included)."""
        return cache.make_key(self.get_cache_key(request, view))

    def take(self, key: str):
        client = cache._cache.get_client(key, write=True)
        return _TAKE(keys=[key], args=[self.now, self.duration, self.num_requests, f"{self.now}:{uuid.uuid4().hex}"], client=client)
