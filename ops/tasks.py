"""Celery tasks of ops. Thin: a service call, the outcome out."""
from __future__ import annotations

from celery import shared_task

from .alerts import alerts_evaluate
from .rollups import fold


@shared_task(name="ops.evaluate_alerts", ignore_result=True, time_limit=50)
def evaluate_alerts() -> dict[str, str]:
    """Beat runs this every minute: folds the settled minutes into the metrics' totals, raises and
    clears alerts."""
    fold()
    return alerts_evaluate()
