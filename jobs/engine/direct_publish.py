"""Publishing a task as one LPUSH.

A Celery publish on Redis ends in one command, LPUSH of a JSON message onto the queue's list, but
gets there through Celery's routing, message building and producer pool and kombu's producer,
exchange and channel layers: about a sixth of a submit's CPU, the biggest single cost of POST
/api/jobs/. `publish_direct` writes the same message (protocol 2, as kombu's Redis transport stores
it) with that one command. It is used only where the message is plain: a Redis broker through
config/broker.py's transport, no countdown, published outside a worker task (Celery would add the
parent and root task ids there); everything else goes through Celery. tests/test_internals.py
compares its message with Celery's own, field by field, and a real worker runs every job the tests
submit through it.
"""
from __future__ import annotations

import base64
import functools
import json
import os

import redis as redis_py
from celery.utils.nodenames import anon_nodename
from kombu.utils.uuid import uuid
from redis.backoff import ConstantBackoff
from redis.retry import Retry


def direct_publish_possible() -> bool:
    """True when `publish_direct` writes what Celery would (see above)."""
    from celery import current_app

    return _plain_redis_broker() and current_app.current_worker_task is None


@functools.cache
def _plain_redis_broker() -> bool:
    """A Redis broker through this transport, with none of the options that change what Celery
    puts in a message or where kombu stores it."""
    from celery import current_app
    from django.conf import settings

    conf = current_app.conf
    options = conf.broker_transport_options or {}
    return (
        getattr(settings, "CELERY_BROKER_TRANSPORT", None) == "config.broker:Transport"
        and (conf.broker_url or "").startswith("redis://")  # not TLS (rediss://) nor a sentinel
        and not conf.broker_use_ssl
        and not conf.task_send_sent_event
        and conf.task_protocol == 2
        and conf.task_serializer == "json"
        and not conf.task_compression
        and not {"global_keyprefix", "sep", "priority_steps"} & set(options)
    )


def task_message(task, args: tuple, queue: str) -> dict:
    """The message Celery and kombu store in Redis for `task.apply_async(args, queue=queue)` with
    argsrepr=repr(args), kwargsrepr="{}" and no other option."""
    name, time_limits, ignore_result, app = _task_constants(task)
    task_id = uuid()
    argsrepr = repr(args)
    body = [list(args), {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    return {
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py", "task": name, "id": task_id, "shadow": None, "eta": None, "expires": None,
            "group": None, "group_index": None, "retries": 0, "timelimit": list(time_limits),
            "root_id": task_id, "parent_id": None, "argsrepr": argsrepr, "kwargsrepr": "{}",
            "origin": _origin(os.getpid()), "ignore_result": ignore_result, "replaced_task_nesting": 0,
            "stamped_headers": None, "stamps": {},
        },
        "properties": {
            "correlation_id": task_id, "reply_to": app.thread_oid, "argsrepr": argsrepr, "kwargsrepr": "{}",
            "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "body_encoding": "base64", "delivery_tag": uuid(),
        },
    }


@functools.cache
def _task_constants(task) -> tuple:
    # Read once: shared tasks are proxies, and each attribute read through one costs a lookup.
    return task.name, (task.time_limit, task.soft_time_limit), task.ignore_result, task.app


@functools.cache
def _origin(pid: int) -> str:
    return anon_nodename()


def publish_direct(task, args: tuple, queue: str) -> None:
    """`task.apply_async(args, queue=queue)` as one LPUSH (see above); raises redis's errors when the
    broker cannot take it."""
    _direct_client().lpush(queue, json.dumps(task_message(task, args, queue)))


@functools.cache
def _direct_client() -> redis_py.Redis:
    from celery import current_app

    # One retry 0.2 s later, as CELERY_TASK_PUBLISH_RETRY_POLICY: with the broker down the caller
    # soon leaves the job to the dispatcher and answers. (redis-py's pool reconnects after a fork.)
    return redis_py.Redis.from_url(
        current_app.conf.broker_url, socket_connect_timeout=2, socket_timeout=5, retry=Retry(ConstantBackoff(0.2), 1),
    )
