"""A job ended (completed, failed or cancelled): what follows, in one place.

`job_ended` runs inside the transaction of the move, with the job as it now is. It runs the
listeners, pushes the final state live once committed, and lets a batch parent count the child.

Listeners are the engine's one extension point for the apps built on it; the engine imports no
other app. An app registers from its AppConfig.ready (notifications records the webhook outbox row
this way), so that what it writes commits or rolls back with the job's end. A listener says which
jobs it wants (`applies`): the engine opens that transaction only when some listener wants the job,
so a job nobody listens to ends in one statement."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

from django.db import transaction

from .. import events
from ..models import Job


@dataclass(frozen=True)
class JobEndListener:
    callback: Callable[[Job], object]
    applies: Callable[[Job], bool]


_listeners: list[JobEndListener] = []


def on_job_end(callback: Callable[[Job], object], *, applies: Callable[[Job], bool] = lambda job: True) -> None:
    """Call `callback(job)` inside the transaction of every job end for which `applies(job)`."""
    listener = JobEndListener(callback, applies)
    if listener not in _listeners:
        _listeners.append(listener)


def job_end_has_listeners(job: Job) -> bool:
    """Whether ending `job` needs a transaction for its listeners."""
    return any(listener.applies(job) for listener in _listeners)


def ending(has_listeners: bool):
    """The transaction a job's end and what its listeners write share; with no listener for the
    job there is nothing to join, and the move commits on its own."""
    return transaction.atomic() if has_listeners else nullcontext()


def job_ended(job: Job) -> None:
    """Called inside the move's transaction: run the listeners; once committed, push the final state
    and let a batch parent count this child."""
    from .batches import job_batch_refresh  # batches end jobs too

    for listener in _listeners:
        if listener.applies(job):
            listener.callback(job)
    events.job_changed(job)
    if job.parent_id:
        transaction.on_commit(partial(job_batch_refresh, job.parent_id))
