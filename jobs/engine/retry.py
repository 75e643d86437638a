"""When a failed attempt (or a webhook try) gets another one, and how long it waits first."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from ..errors import JobCancelled, JobServiceError, PermanentError

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


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: the wait after attempt n has the ceiling min(cap, base * factor**(n-1)),
    or, with explicit `delays`, delays[n-1] (the last one repeating).

    jitter="full" waits uniform(0, ceiling) (the default: it spreads a crowd of retries best);
    "equal" waits uniform(ceiling/2, ceiling), so waits still grow from one attempt to the next;
    "spread" waits the ceiling varied by up to `spread` (a fraction) either way; "none" waits the
    ceiling."""

    max_attempts: int = 5
    base: float = 2.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: Literal["full", "equal", "spread", "none"] = "full"
    delays: tuple[float, ...] = ()
    spread: float = 0.0
    # Optional override of the error classification: (exception, attempt) -> bool.
    should_retry: Callable[[BaseException, int], bool] | None = None

    def ceiling(self, attempt: int) -> float:
        if self.delays:
            return self.delays[min(attempt, len(self.delays)) - 1]
        return min(self.cap, self.base * self.factor ** (attempt - 1))

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) before the next one."""
        ceiling = self.ceiling(attempt)
        if self.jitter == "full":
            return rand() * ceiling
        if self.jitter == "equal":
            return ceiling / 2 + rand() * ceiling / 2
        if self.jitter == "spread":
            return max(0.0, ceiling * (1 + self.spread * (2 * rand() - 1)))
        return ceiling

    def retries(self, exc: BaseException, attempt: int) -> bool:
        """Whether the job gets another attempt after `exc` ended attempt number `attempt`. An
        unclassified error (a bug, an unexpected reply) is retried like Sidekiq does: the retries
        are bounded, and the job lands in the dead-letter queue with its traceback."""
        if attempt >= self.max_attempts:
            return False
        if self.should_retry is not None:
            return self.should_retry(exc, attempt)
        return not isinstance(exc, PERMANENT_ERRORS)
