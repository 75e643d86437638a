"""Per-process clients survive the per-request threads of ASGI: the shared cache (DRF's throttle
counts) keeps its Redis connections, Celery its backend object."""
from __future__ import annotations

import threading

from django.core.cache import caches


def test_every_thread_borrows_from_one_redis_connection_pool():
    """Under ASGI each request runs in a thread of its own, with its own cache object; they must
    not each open a new Redis connection."""
    pools = []

    def request_thread():
        cache = caches["default"]
        cache.set("pool-probe", 1)
        pools.append(cache._cache._get_connection_pool(write=True))
        caches.close_all()  # what Django does when a request finishes

    def run_in_a_new_thread():
        thread = threading.Thread(target=request_thread)
        thread.start()
        thread.join()

    run_in_a_new_thread()
    opened = pools[0]._created_connections
    for _ in range(3):
        run_in_a_new_thread()

    assert len(pools) == 4 and all(pool is pools[0] for pool in pools)
    assert pools[0]._created_connections == opened, "later requests reuse the first one's connection"


def test_every_thread_publishes_with_one_celery_backend_object():
    from config.celery import app

    backends = []
    for _ in range(2):
        thread = threading.Thread(target=lambda: backends.append(app.backend))
        thread.start()
        thread.join()
    assert backends[0] is backends[1]


def test_the_cache_still_lends_its_redis_client():
    """common/cache.py reaches into Django's RedisCache: this fails loudly if a Django upgrade
    changes what it reaches for."""
    import redis
    from django.core.cache import cache

    from common.cache import cache_redis

    client = cache_redis(cache.make_key("probe"))
    assert isinstance(client, redis.Redis)
    assert client.connection_pool is cache._cache._get_connection_pool(write=True)
    assert cache_redis(cache.make_key("other")) is client, "one client per pool, not one per call"
    client.set(cache.make_key("probe"), "1", ex=5)
    assert client.get(cache.make_key("probe")) == b"1"
