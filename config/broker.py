"""kombu's Redis transport, with one client per channel for the commands it sends synchronously
(publishing above all).

kombu 5.7 builds a new `redis.Redis` for every message it publishes (`Channel._create_client`,
through `conn_or_acquire`), and redis-py's constructor fills a table of about 170 response
callbacks each time: a fifth of the CPU of a Celery publish, the biggest single cost of a submit.
A client is only a view of the channel's connection pool and is safe to share, so one is kept per
channel (a new one when kombu gives the channel a new pool). The asynchronous clients the worker
consumes with are kombu's own. Selected by CELERY_BROKER_TRANSPORT when the broker is Redis.

Written against kombu 5.7 (`Channel._create_client(asynchronous=False)` and `Channel.pool`);
tests/test_internals.py fails loudly if either changes shape.
"""
from __future__ import annotations

from kombu.transport import redis


class Channel(redis.Channel):
    _publish_client = None

    def _create_client(self, asynchronous: bool = False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._publish_client
        if client is None or client.connection_pool is not self.pool:
            client = self._publish_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
