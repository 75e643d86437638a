"""Job types for demos, tests and benchmarks."""
from __future__ import annotations

import hashlib
import time
from typing import Literal

from pydantic import Field

from jobs.authorization import Submitters
from jobs.context import JobContext
from jobs.errors import PermanentError, TransientError
from jobs.registry import JobInput, RetryPolicy, job_type

from .models import DiagnosticsEffect


class SleepInput(JobInput):
    seconds: float = Field(1.0, ge=0, le=600, description="Total time to sleep; may be fractional.")
    steps: int = Field(1, ge=1, le=1000, description="Progress steps the sleep is divided into.")
    fail_attempts: int = Field(0, ge=0, le=100, description="Raise an error on this many first attempts.")
    error: Literal["transient", "permanent"] = Field("transient", description="Kind of error to raise.")
    record_effect: bool = Field(False, description="Record a side effect row, idempotently (for fault tests).")


# Equal jitter with a 1 s base: short, predictable waits (0.5-1 s, 1-2 s, 2-4 s, ...) for demos and tests.
@job_type("diagnostics.sleep", input=SleepInput, submitters=Submitters.ANYONE,
          retry=RetryPolicy(max_attempts=5, base=1.0, cap=60.0, jitter="equal"))
def diagnostics_sleep(ctx: JobContext, data: SleepInput) -> dict:
    """Sleeps in progress steps, failing on purpose on its first attempts. For demos, tests and benchmarks."""
    for step in range(1, data.steps + 1):
        if data.seconds:  # sleep(0) still hands the GIL to the events thread, which may keep it 5 ms
            time.sleep(data.seconds / data.steps)
        ctx.progress(100 * step // data.steps, f"step {step}/{data.steps}")
    if ctx.attempt <= data.fail_attempts:
        error = TransientError if data.error == "transient" else PermanentError
        raise error(f"diagnostics.sleep failed on purpose on attempt {ctx.attempt} of {data.fail_attempts}")
    if data.record_effect:
        # An idempotent side effect: keyed by the job, so a re-run after a lost worker is a no-op.
        DiagnosticsEffect.objects.get_or_create(job_id=ctx.job_id, defaults={"attempt": ctx.attempt})
    return {"slept_seconds": data.seconds, "steps": data.steps, "attempt": ctx.attempt}


class SecretInput(JobInput):
    api_key: str = Field(
        min_length=1, max_length=500, json_schema_extra={"sensitive": True},
        description="A credential for a third party: encrypted at rest, shown as ***.",
    )
    label: str = Field("", max_length=200, description="Any text; stored and shown in clear.")


@job_type("diagnostics.secret", input=SecretInput, submitters=Submitters.ANYONE, retry=RetryPolicy(max_attempts=1))
def diagnostics_secret(ctx: JobContext, data: SecretInput) -> dict:
    """Receives a sensitive field (decrypted only here, in the worker) and returns its SHA-256, never the value."""
    return {"label": data.label, "api_key_sha256": hashlib.sha256(data.api_key.encode()).hexdigest()}
