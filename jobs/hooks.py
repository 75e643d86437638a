"""The engine's one extension point for the apps built on it: "a job ended". The engine imports no
other app; an app registers here from its AppConfig.ready (notifications records the webhook
outbox row this way).

A listener runs inside the transaction that moves the job to completed, failed or cancelled, with
the job as it now is, so that what it writes commits or rolls back with the job's end. It says which
jobs it wants (`applies`): the engine opens that transaction only when some listener wants the job,
so a job nobody listens to ends in one statement."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .models import Job


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


def job_ended(job: Job) -> None:
    """Run the listeners for a job that has just ended, inside the ending transaction."""
    for listener in _listeners:
        if listener.applies(job):
            listener.callback(job)
