"""The redis-py client behind Django's cache, for what the cache API cannot say in one round trip
(the submit throttle's Lua script, a stream ticket's GETDEL).

The one place that reaches into Django's private cache internals. Written against Django 5.2:
`django.core.cache.backends.redis.RedisCache._cache` is a `RedisCacheClient` whose
`get_client(key=None, *, write=False)` returns a `redis.Redis`. tests/test_cache.py fails loudly
if that shape changes."""
from __future__ import annotations

import redis
from django.core.cache import cache


def cache_redis(key: str | None = None) -> redis.Redis:
    """A client for writing `key` (Django's cache picks the server by key), from the cache's pool."""
    return cache._cache.get_client(key, write=True)
