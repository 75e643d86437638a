"""The job-type registry: a job type is a handler, a pydantic input model, who may submit it and a
retry policy (jobs.engine.retry)."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .authorization import Submitters
from .engine.retry import RetryPolicy
from .errors import InvalidJobInput, UnknownJobType
from .models import Priority
from .text import unstorable_text_error


class JobInput(BaseModel):
    """Base for job input models: JSON types are checked strictly and unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


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
