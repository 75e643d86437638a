"""The redis-py client behind Django's cache, for what the cache API cannot say in one round trip
(the submit throttle's Lua script, a stream ticket's GETDEL).

The one place that reaches into Django's private cache internals. Written against Django 5.2:
`django.core.cache.backends.redis.RedisCache._cache` is a `RedisCacheClient` whose
`get_client(key=None, *, write=False)` returns a `redis.Redis` over the pool that
`_get_connection_pool(write)` returns. tests/test_cache.py fails loudly if that shape changes."""
from __future__ import annotations

import redis
from django.core.cache import cache


# One client per pool: get_client builds a new redis.Redis for every call, a twelfth of the submit
# throttle's time. A client is safe to share between threads (each command borrows a connection).
_clients: dict[redis.ConnectionPool, redis.Redis] = {}


def cache_redis(key: str | None = None) -> redis.Redis:
    """A client for writing `key` (Django's cache picks the server by key), over the cache's pool."""
    pool = cache._cache._get_connection_pool(write=True)
    client = _clients.get(pool)
    if client is None:
        client = _clients.setdefault(pool, cache._cache.get_client(key, write=True))
    return client
