"""Baselines for bench/e2e_throughput.py: plain Celery tasks on the same broker and worker settings.

    celery -A bench.baseline_celery:raw worker -Q baseline ...       raw no-op tasks, no results
    celery -A bench.baseline_celery:tracked worker -Q baseline ...   django-celery-results + task_track_started

Each no-op counts itself in Redis, so the benchmark knows when all have run.
"""
from __future__ import annotations

import os

import django
import redis
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.conf import settings  # noqa: E402

COUNTER = "bench:baseline:done"
QUEUE = "baseline"
SAME_WORKER_SETTINGS = dict(
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
)
_redis = redis.Redis.from_url(settings.REDIS_URL)

# Raw Celery: the ceiling.
raw = Celery("baseline_raw", broker=settings.CELERY_BROKER_URL, set_as_current=False)
raw.conf.update(SAME_WORKER_SETTINGS, task_ignore_result=True)


@raw.task(name="baseline.raw_noop")
def raw_noop():
    _redis.incr(COUNTER)


# How most Django teams track task state: results in the database, with a STARTED state.
tracked = Celery("baseline_tracked", broker=settings.CELERY_BROKER_URL, set_as_current=False)
tracked.conf.update(SAME_WORKER_SETTINGS, result_backend="django-db", task_track_started=True,
                    task_ignore_result=False, result_extended=True)


@tracked.task(name="baseline.tracked_noop")
def tracked_noop():
    _redis.incr(COUNTER)
