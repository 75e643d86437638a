"""Which running attempts a live worker vouches for, kept in Redis.

A worker's main process (not the child running the handler) says every JOBS_LIVENESS_INTERVAL
seconds which attempts its children are running: one key per attempt, expiring after
JOBS_LOST_AFTER seconds. A child busy in a long computation, a slow database or a garbage
collection pause does not stop it; a killed child (the main process forgets its task at once) or
a killed worker (nothing renews the keys) does. The reaper reads these keys only for jobs whose
own database heartbeat has gone quiet, so a healthy job costs the reaper nothing.

Redis, not the database: the main process forks the children, and redis-py's pool is safe across
a fork (a child never reuses its parent's sockets), where a database connection is not.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from common.cache import cache_redis

logger = logging.getLogger(__name__)

Attempt = tuple[str, int]


def _key(job_id: str, attempt: int) -> str:
    return cache.make_key(f"jobs:alive:{job_id}:{attempt}")


def attempts_vouch(attempts: Iterable[Attempt]) -> None:
    """Mark these attempts alive for JOBS_LOST_AFTER seconds (one round trip)."""
    attempts = list(attempts)
    if not attempts:
        return
    ttl_ms = int(settings.JOBS_LOST_AFTER * 1000)
    with cache_redis().pipeline(transaction=False) as pipe:
        for job_id, attempt in attempts:
            pipe.set(_key(job_id, attempt), 1, px=ttl_ms)
        pipe.execute()


def attempts_unvouch(attempts: Iterable[Attempt]) -> None:
    """Stop vouching for these attempts at once (they were handed back)."""
    keys = [_key(job_id, attempt) for job_id, attempt in attempts]
    if keys:
        cache_redis().delete(*keys)


def attempts_vouched_for(attempts: Iterable[Attempt]) -> set[Attempt] | None:
    """Those of `attempts` a worker vouches for now; None when Redis cannot tell (unreachable, or
    restarted so recently that live workers may not have vouched again yet)."""
    attempts = list(attempts)
    try:
        client = cache_redis()
        with client.pipeline(transaction=False) as pipe:
            pipe.info("server")
            for job_id, attempt in attempts:
                pipe.exists(_key(job_id, attempt))
            server, *found = pipe.execute()
    except (RedisError, OSError):
        logger.warning("Cannot read attempt liveness from Redis; using JOBS_STALL_TIMEOUT only.", exc_info=True)
        return None
    if server.get("uptime_in_seconds", 0) < settings.JOBS_LOST_AFTER:
        return None  # a restarted Redis lost every key; workers put theirs back within an interval
    return {attempt for attempt, exists in zip(attempts, found) if exists}
