"""Errors a job handler raises to steer the runner, and domain errors the API turns into answers."""
from __future__ import annotations


class TransientError(Exception):
    """A temporary fault (network, rate limit, lock): the attempt is retried with backoff."""


class PermanentError(Exception):
    """A business error that no retry can fix: the job fails at once."""


class JobCancelled(Exception):
    """Raised inside a handler (from ctx.progress) when the job was cancelled while running."""


class AttemptSuperseded(Exception):
    """This worker no longer holds the attempt (a newer attempt exists, or the job ended)."""


# --- domain errors answered by the API's exception handler ---------------------


class JobServiceError(Exception):
    status_code = 400

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class UnknownJobType(JobServiceError):
    def __init__(self, name: str):
        super().__init__(f"Unknown job type {name!r}.", {"type": [f"Unknown job type {name!r}."]})


class InvalidJobInput(JobServiceError):
    """Input that does not match the job type's schema; `errors` maps field paths to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("Invalid job input.", {"input": errors})


class IdempotencyKeyReused(JobServiceError):
    """An Idempotency-Key already used for a different request (HTTP 422)."""

    status_code = 422

    def __init__(self):
        super().__init__("This Idempotency-Key was already used with a different request.")


class ActionForbidden(JobServiceError):
    """The user may not do this (HTTP 403): submit a system-only type, jump the queue, act on
    another user's job without the operator permission."""

    status_code = 403


class JobStateConflict(JobServiceError):
    """The requested action is not allowed in the job's current state."""

    status_code = 409
