"""The job-type registry: a job type is a handler, a pydantic input model and a retry policy."""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel, ConfigDict, ValidationError

from .authorization import Submitters
from .errors import InvalidJobInput, JobCancelled, JobServiceError, PermanentError, UnknownJobType
from .models import Priority
from .text import unstorable_text_error

# Errors no retry can fix. Every other error is worth another attempt (the world may be different
# next time): TransientError, network errors and timeouts, and unclassified ones.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    PermanentError,
    ValidationError,
    JobServiceError,
    PermissionError,
    JobCancelled,
    # The attempt ran out of JOBS_TASK_TIME_LIMIT: another attempt would run out of it too.
    SoftTimeLimitExceeded,
)


class JobInput(BaseModel):
    """Base for job input models: JSON types are checked strictly and unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: the wait after attempt n has the ceiling min(cap, base * factor**(n-1)).

    jitter="full" waits uniform(0, ceiling) (the default: it spreads a crowd of retries best);
    "equal" waits uniform(ceiling/2, ceiling), so waits still grow from one attempt to the next;
    "none" waits the ceiling."""

    max_attempts: int = 5
    base: float = 2.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: Literal["full", "equal", "none"] = "full"
    # Optional override of the error classification: (exception, attempt) -> bool.
    should_retry: Callable[[BaseException, int], bool] | None = None

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) before the next one."""
        ceiling = min(self.cap, self.base * self.factor ** (attempt - 1))
        if self.jitter == "full":
            return rand() * ceiling
        if self.jitter == "equal":
            return ceiling / 2 + rand() * ceiling / 2
        return ceiling

    def retries(self, exc: BaseException, attempt: int) -> bool:
        """Whether the job gets another attempt after `exc` ended attempt number `attempt`."""
        if attempt >= self.max_attempts:
            return False
        if self.should_retry is not None:
            return self.should_retry(exc, attempt)
        return is_transient(exc)


def is_transient(exc: BaseException) -> bool:
    # An unclassified error (a bug, an unexpected reply) is retried like Sidekiq does: the
    # retries are bounded, and the job lands in the dead-letter queue with its traceback.
    return not isinstance(exc, PERMANENT_ERRORS)


@dataclass(frozen=True)
class JobType:
    name: str
    handler: Callable[..., Any]
    input_model: type[BaseModel]
    submitters: Submitters
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    default_priority: Priority = Priority.NORMAL
    description: str = ""

    def validate_input(self, raw: Any) -> BaseModel:
        """Parse raw JSON input into the type's model, or raise InvalidJobInput with field errors."""
        if not isinstance(raw, dict):
            raise InvalidJobInput({"non_field_errors": ["Input must be a JSON object."]})
        # Every way in (API, admin replay, schedules) passes here; PostgreSQL would refuse it later.
        if problem := unstorable_text_error(raw):
            raise InvalidJobInput({"non_field_errors": [f"The input's {problem}."]})
        try:
            # JSON mode: "3" is not an int, but "2026-01-31" is a date.
            return self.input_model.model_validate_json(json.dumps(raw))
        except ValidationError as exc:
            raise InvalidJobInput(field_errors(exc)) from None

    def input_schema(self) -> dict:
        return self.input_model.model_json_schema()


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        key = ".".join(str(part) for part in error["loc"]) or "non_field_errors"
        message = error["msg"].removeprefix("Value error, ")
        errors.setdefault(key, []).append(message)
    return errors


_registry: dict[str, JobType] = {}


def job_type(
    name: str,
    *,
    input: type[BaseModel],
    submitters: Submitters,
    retry: RetryPolicy | None = None,
    priority: Priority = Priority.NORMAL,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `handler(ctx, data) -> dict` as job type `name`, submittable by `submitters`
    (jobs.authorization). Modules named job_types.py are loaded at startup."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        if name in _registry and _registry[name].handler is not handler:
            raise ValueError(f"Job type {name!r} is registered twice.")
        _registry[name] = JobType(
            name=name,
            handler=handler,
            input_model=input,
            submitters=submitters,
            retry=retry or RetryPolicy(),
            default_priority=priority,
            description=(handler.__doc__ or "").strip(),
        )
        return handler

    return register


def get_job_type(name: str) -> JobType:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownJobType(name) from None


def all_job_types() -> list[JobType]:
    return sorted(_registry.values(), key=lambda jt: jt.name)
