"""Celery tasks of ops. Thin: a service call, the outcome out."""
from __future__ import annotations

from celery import shared_task

from .alerts import alerts_evaluate


@shared_task(name="ops.evaluate_alerts", ignore_result=True, time_limit=50)
def evaluate_alerts() -> dict[str, str]:
    """Beat runs this every minute: raises and clears alerts."""
    return alerts_evaluate()
