"""The Celery application. Workers: `celery -A config worker -Q high,default,low`."""
from __future__ import annotations

import logging
import os
import signal
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down

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


@worker_ready.connect
def _vouch_for_running_jobs(sender=None, **kwargs):
    """The main process vouches for the jobs its children run (jobs/worker.py, jobs/liveness.py)."""
    from jobs.worker import start_vouching

    start_vouching()


@worker_shutting_down.connect
def _bound_warm_shutdown(sig, how, exitcode, **kwargs):
    """SIGTERM starts a warm shutdown, which Celery lets run for as long as the tasks take. Give it
    JOBS_SHUTDOWN_GRACE_SECONDS; then hand the jobs still running back (retrying, published again
    for another worker, the attempt not counted) and turn the shutdown into a cold one (SIGQUIT),
    which stops the children."""
    from django.conf import settings

    if how == "Warm" and settings.JOBS_SHUTDOWN_GRACE_SECONDS >= 0:
        timer = threading.Timer(settings.JOBS_SHUTDOWN_GRACE_SECONDS, _hand_back_and_stop)
        timer.daemon = True
        timer.start()


def _hand_back_and_stop() -> None:
    from jobs.worker import hand_back_running

    try:
        hand_back_running()
    finally:
        os.kill(os.getpid(), signal.SIGQUIT)
