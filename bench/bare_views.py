"""The limits POST /api/jobs/ is measured against (bench/http_enqueue.py): plain Django views that do
only what any submit must, one INSERT of the job row and one message to the queue, with no
authentication, throttle, validation, audit or live event. Served only by the benchmark's server
(DJANGO_SETTINGS_MODULE=bench.settings), never by the service.

- /bench/insert-lpush: the INSERT, then one Redis LPUSH of a small JSON message.
- /bench/insert-publish: the INSERT, then a Celery publish of run_job on the job's queue (what a
  submit publishes; no worker runs during the benchmark and the queues are purged afterwards),
  with a stock Celery app on the same broker: what a team wiring Celery by hand publishes with.
  (The service's own app uses config/broker.py's transport on Redis, which is part of what the
  comparison measures.)
"""
from __future__ import annotations

import functools
import json

from django.contrib.auth import get_user_model
from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from celery import Celery
from django.conf import settings

from config.urls import urlpatterns as service_urlpatterns
from jobs.models import Job, job_route, new_job_id

stock_celery = Celery("bare", broker=settings.CELERY_BROKER_URL)

COLUMNS = ("id", "type", "status", "priority", "owner_id", "input", "progress", "progress_message", "error_type",
           "error_message", "result_file", "attempts", "max_attempts", "created_at", "webhook_url",
           "request_fingerprint")


@functools.cache
def _owner_id() -> int:
    return get_user_model().objects.get(username="bench").pk


@functools.cache
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _insert(body: bytes) -> str:
    job_id = new_job_id()
    values = (job_id, "diagnostics.sleep", "pending", "normal", _owner_id(), json.dumps(json.loads(body)["input"]),
              0, "", "", "", "", 0, 1, timezone.now(), "", "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Job._meta.db_table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
            values,
        )
    return job_id


@csrf_exempt
def insert_lpush(request):
    job_id = _insert(request.body)
    _redis().lpush("bench:bare", json.dumps({"id": job_id, "attempt": 1}))
    return JsonResponse({"id": job_id, "status": "pending"}, status=202)


@csrf_exempt
def insert_publish(request):
    job_id = _insert(request.body)
    stock_celery.send_task("jobs.tasks.run_job", (job_id, 1), **job_route("normal"))
    return JsonResponse({"id": job_id, "status": "pending"}, status=202)


urlpatterns = [
    *service_urlpatterns,
    path("bench/insert-lpush", insert_lpush),
    path("bench/insert-publish", insert_publish),
]
