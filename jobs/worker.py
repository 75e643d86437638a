"""What a Celery worker's main process does for the jobs its children run: it vouches for them
while they run (jobs.liveness), and when it stops it gives back, at once, the ones that did not
end within the grace period. config/celery.py connects these to the worker's signals.

Written against Celery 5.x: `celery.worker.state.active_requests` holds the requests the pool's
children are running, each with `.name` and `.args`. tests/test_internals.py checks that shape.
"""
from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connection

from . import liveness
from .engine.dispatch import job_hand_back
from .tasks import run_job

logger = logging.getLogger(__name__)

RUN_TASK = run_job.name
_handed_back: set[liveness.Attempt] = set()


def running_attempts() -> list[liveness.Attempt]:
    """(job id, attempt) of every job this worker's children are running now."""
    return [(job_id, attempt) for job_id, attempt, _ in running_claims()]


def running_claims() -> list[tuple[str, int, str]]:
    """(job id, attempt, message id: the claim id) of every job this worker's children are running now."""
    from celery.worker import state

    for _ in range(3):
        try:
            requests = list(state.active_requests)  # the main thread may change it meanwhile
            break
        except RuntimeError:
            continue
    else:
        return []
    return [(str(r.args[0]), int(r.args[1]), r.id) for r in requests if r.name == RUN_TASK and len(r.args) >= 2]


def vouch_forever(stopped: threading.Event) -> None:
    """The main process's liveness thread: every JOBS_LIVENESS_INTERVAL seconds, vouch for the
    attempts running here (one Redis round trip). A failed round trip is logged and tried again;
    the reaper falls back to the heartbeat timeout while Redis cannot answer."""
    while True:
        try:
            liveness.attempts_vouch(a for a in running_attempts() if a not in _handed_back)
        except Exception:
            logger.warning("Could not vouch for this worker's running jobs.", exc_info=True)
        if stopped.wait(settings.JOBS_LIVENESS_INTERVAL):
            return


def start_vouching() -> threading.Event:
    """Start the liveness thread (in the worker's main process); set the event to stop it."""
    stopped = threading.Event()
    threading.Thread(target=vouch_forever, args=(stopped,), name="jobs-liveness", daemon=True).start()
    return stopped


def hand_back_running() -> int:
    """The grace period is over: every attempt still running here becomes retrying and is
    published again for another worker, before the children are stopped. Returns how many."""
    claims = running_claims()
    attempts = [(job_id, attempt) for job_id, attempt, _ in claims]
    _handed_back.update(attempts)
    handed = 0
    try:
        liveness.attempts_unvouch(attempts)
    except Exception:
        logger.warning("Could not withdraw liveness of handed-back jobs.", exc_info=True)
    for job_id, attempt, claim_id in claims:
        try:
            handed += job_hand_back(job_id, attempt, claim_id)
        except Exception:  # the database may be the reason we stop; the reaper takes it from here
            logger.warning("Could not hand back job %s attempt %s.", job_id, attempt, exc_info=True)
    connection.close()
    if handed:
        logger.warning("Handed back %s running jobs to other workers.", handed)
    return handed
