"""Retry decisions are pure logic: unit tests, no database."""
from __future__ import annotations

import pytest
import requests
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from jobs.errors import PermanentError, TransientError
from diagnostics.job_types import SleepInput
from jobs.registry import RetryPolicy


def test_backoff_grows_exponentially_up_to_the_cap():
    policy = RetryPolicy(base=2.0, factor=2.0, cap=60.0, jitter="none")
    assert [policy.backoff(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_full_jitter_stays_between_zero_and_the_ceiling():
    policy = RetryPolicy(base=2.0, cap=60.0)
    assert policy.backoff(3, rand=lambda: 0.0) == 0
    assert policy.backoff(3, rand=lambda: 0.999) == pytest.approx(7.992)
    assert all(0 <= policy.backoff(10) <= 60 for _ in range(200))


def test_equal_jitter_keeps_waits_growing():
    policy = RetryPolicy(base=1.0, jitter="equal")
    assert policy.backoff(1, rand=lambda: 0.0) == 0.5 and policy.backoff(1, rand=lambda: 1.0) == 1.0
    assert policy.backoff(2, rand=lambda: 0.0) == 1.0
    assert all(policy.backoff(n + 1) >= policy.backoff(n, rand=lambda: 1.0) for n in range(1, 5) for _ in range(50))


def validation_error():
    with pytest.raises(ValidationError) as info:
        SleepInput.model_validate({"seconds": "x"})
    return info.value


@pytest.mark.parametrize(
    "exc, retried",
    [
        (TransientError("x"), True),
        (ConnectionError(), True),
        (TimeoutError(), True),
        (requests.ConnectionError(), True),
        (requests.Timeout(), True),
        (KeyError("unexpected"), True),
        (PermanentError("x"), False),
        (PermissionError(), False),
        (SoftTimeLimitExceeded(), False),
        (validation_error(), False),
    ],
)
def test_errors_are_classified(exc, retried):
    assert RetryPolicy(max_attempts=5).retries(exc, attempt=1) is retried


def test_no_retry_once_attempts_are_exhausted():
    assert RetryPolicy(max_attempts=3).retries(TransientError(), attempt=2) is True
    assert RetryPolicy(max_attempts=3).retries(TransientError(), attempt=3) is False


def test_a_job_type_may_decide_itself():
    policy = RetryPolicy(max_attempts=5, should_retry=lambda exc, attempt: isinstance(exc, KeyError))
    assert policy.retries(KeyError(), 1) is True
    assert policy.retries(TransientError(), 1) is False
