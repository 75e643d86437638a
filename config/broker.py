"""kombu's Redis transport, with one client per channel for the commands it sends synchronously
(publishing above all), and a worker that survives Redis going away while it holds messages.
(jobs/engine/direct_publish.py publishes the engine's messages on it in one LPUSH each.)

kombu 5.7 builds a new `redis.Redis` for every message it publishes (`Channel._create_client`,
through `conn_or_acquire`), and redis-py's constructor fills a table of about 170 response
callbacks each time: a fifth of the CPU of a Celery publish, the biggest single cost of a submit.
A client is only a view of the channel's connection pool and is safe to share, so one is kept per
channel (a new one when kombu gives the channel a new pool). The asynchronous clients the worker
consumes with are kombu's own. Selected by CELERY_BROKER_TRANSPORT when the broker is Redis.

When Redis goes away, the worker closes its connection, and closing the channel gives back the
messages it holds (`restore_unacked`), which asks for a client after kombu has already dropped the
connection's settings: kombu 5.7 then raises AttributeError ('NoneType' object has no attribute
'hostname'), which the worker does not expect there and dies of ("Unrecoverable error"). Here that
case raises redis's ConnectionError instead, which the worker ignores while it reconnects; the
messages stay in Redis's unacked set, from which they are restored after the visibility timeout
(and a Redis that restarted empty lost them anyway: the dispatcher publishes those jobs again).

Written against kombu 5.7 (`Channel._create_client(asynchronous=False)`, `Channel.pool`, and the
transport's `client`, None once the connection is closed); tests/test_internals.py fails loudly if
any of it changes shape.
"""
from __future__ import annotations

from kombu.transport import redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(redis.Channel):
    _publish_client = None

    def _create_client(self, asynchronous: bool = False):
        if self.connection.client is None:
            raise RedisConnectionError("The broker connection is closed.")
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._publish_client
        if client is None or client.connection_pool is not self.pool:
            client = self._publish_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
