"""One Redis connection pool per process for Django's cache.

Django keeps a cache object per thread, and under ASGI every request runs its sync code in a
thread of its own, so the stock RedisCache opens a new TCP connection for each request (the
submit throttle's hot path). This pool class hands every cache object the same pool instead.
"""
from __future__ import annotations

import threading

import redis

_pools: dict[tuple, redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (url, tuple(sorted(kwargs.items())))
        with _lock:
            if key not in _pools:
                _pools[key] = redis.ConnectionPool.from_url(url, **kwargs)
            return _pools[key]
