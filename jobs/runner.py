"""Runs one attempt of one job: claim, call the handler, record the outcome."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from .engine import batches, running
from .authorization import run_refusal
from .engine.hooks import job_end_has_listeners
from .context import JobContext
from .errors import AttemptSuperseded, JobCancelled
from .registry import get_job_type
from .sensitive import input_decrypt

logger = logging.getLogger(__name__)


def error_fields(exc: BaseException) -> dict:
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return {
        "error_type": name[:200],
        "error_message": str(exc)[:10_000] or name,
        "traceback": "".join(traceback.format_exception(exc))[-20_000:],
    }


class Heartbeat:
    """Marks the running attempt alive every JOBS_HEARTBEAT_INTERVAL seconds while its handler
    runs, even a handler that never reports progress; the reaper retries jobs whose heartbeat
    stops. One thread per worker process serves every attempt the process runs in turn. It wakes
    on its own at least once an interval, so starting an attempt need not wake it (a wake-up per
    job would cost a thread switch per job); only a shorter interval than it sleeps for does."""

    _changed = threading.Condition()
    _pid: int | None = None
    _current: tuple | None = None  # (job id, attempt, claim id)
    _due = 0.0
    _wakes_at = 0.0

    def __init__(self, job_id: str, attempt: int, claim_id):
        self.attempt_key = (job_id, attempt, claim_id)

    def __enter__(self) -> Heartbeat:
        cls = type(self)
        with cls._changed:
            cls._current, cls._due = self.attempt_key, time.monotonic() + settings.JOBS_HEARTBEAT_INTERVAL
            if cls._pid != os.getpid():  # the first attempt in this (possibly just forked) process
                cls._pid, cls._wakes_at = os.getpid(), cls._due
                threading.Thread(target=cls._beat, name="job-heartbeat", daemon=True).start()
            elif cls._wakes_at > cls._due:
                cls._changed.notify()
        return self

    def __exit__(self, *exc_info) -> None:
        cls = type(self)
        with cls._changed:
            if cls._current == self.attempt_key:
                cls._current = None

    @classmethod
    def _beat(cls) -> None:
        while True:
            with cls._changed:
                while True:
                    now = time.monotonic()
                    if cls._current is not None and now >= cls._due:
                        break
                    cls._wakes_at = cls._due if cls._current is not None else now + settings.JOBS_HEARTBEAT_INTERVAL
                    cls._changed.wait(cls._wakes_at - now)
                current = cls._current
                cls._due = now + settings.JOBS_HEARTBEAT_INTERVAL
            try:
                if not running.job_heartbeat(*current):
                    with cls._changed:  # cancelled or superseded: the handler learns at its next progress()
                        if cls._current == current:
                            cls._current = None
            except Exception:
                logger.warning("Heartbeat for job %s failed.", current[0], exc_info=True)
            finally:
                connection.close()  # this thread's own: back to the pool until the next beat


def job_run_attempt(job_id: str, attempt: int, *, worker: str = "", claim_id=None) -> str:
    """Run attempt `attempt` of job `job_id`; returns what happened, for logs and tests. `claim_id`:
    the id of the message that asked (the worker's main process names it when it hands back)."""
    job = running.job_claim(job_id, attempt, worker=worker, pid=os.getpid(), claim_id=claim_id)
    if job is None:
        logger.info("Dropped message for job %s attempt %s: not waiting for that attempt.", job_id, attempt)
        return "dropped"

    started = time.monotonic()
    elapsed_ms = lambda: int((time.monotonic() - started) * 1000)  # noqa: E731
    job_type = None
    try:
        job_type = get_job_type(job.type)
        # Checked again at run time: the owner may have been deactivated or lost a permission.
        refusal = run_refusal(job, job_type)
        if refusal:
            raise PermissionError(refusal)
        data = job_type.validate_input(input_decrypt(job.input))
        ctx = JobContext(job, attempt)
        with Heartbeat(job_id, attempt, job.claim_id):
            output = job_type.handler(ctx, data)
        # Round-trip through JSON so that dates and decimals are stored the way the API shows them.
        output = json.loads(json.dumps(output, cls=DjangoJSONEncoder))
    except AttemptSuperseded:
        logger.warning("Job %s attempt %s was superseded; its result is dropped.", job_id, attempt)
        return "superseded"
    except JobCancelled:
        running.job_attempt_cancelled(job_id, attempt, job.claim_id, elapsed_ms())
        return "cancelled"
    except Exception as exc:
        error = error_fields(exc)
        retry = job_type is not None and job_type.retry.retries(exc, attempt)
        if retry:
            delay = job_type.retry.backoff(attempt)
            running.job_retry_later(job_id, attempt, job.claim_id, error, delay, elapsed_ms())
            logger.warning(
                "Job %s attempt %s failed (%s: %s); retrying in %.1fs.",
                job_id, attempt, error["error_type"], error["error_message"], delay,
            )
            return "retrying"
        running.job_fail(job_id, attempt, job.claim_id, error, elapsed_ms(), has_listeners=job_end_has_listeners(job))
        logger.warning("Job %s failed on attempt %s: %s: %s", job_id, attempt, error["error_type"], error["error_message"])
        return "failed"
    if ctx.spawned_children:
        try:
            batches.job_await_children(job_id, attempt, job.claim_id, output, elapsed_ms())
        except (AttemptSuperseded, JobCancelled):
            return "superseded"
        return "waiting for children"
    completed = running.job_complete(
        job_id, attempt, job.claim_id, output, elapsed_ms(), progress_message=ctx.last_message,
        has_listeners=job_end_has_listeners(job),
    )
    return "completed" if completed else "superseded"
