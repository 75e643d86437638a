"""The Celery application. Workers: `celery -A config worker -Q high,default,low`."""
from __future__ import annotations

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("jobservice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class _QuietHousekeeping(logging.Filter):
    """The dispatcher and reaper run every few seconds; their received/succeeded lines would drown the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "jobs.dispatch_due" not in message and "jobs.reap_stalled" not in message


for _logger in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
    logging.getLogger(_logger).addFilter(_QuietHousekeeping())
