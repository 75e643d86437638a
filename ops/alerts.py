"""Alert rules (seed 001: backlog >= 1000, failure rate >= 5 %, average wait >= 5 min), evaluated
every minute by beat. An alert is raised once (an INSERT that the partial unique constraint lets
only one evaluator win), notified once to staff, and cleared (one conditional UPDATE) when its
condition clears; nothing is sent while it stays active."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.authorization import VIEW_METRICS, users_with_permission
from common.ssrf import TryDeadline, checked_session
from notifications.webhooks import signed_headers

from . import selectors
from .models import Alert

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    value: float
    # False when there is too little data to judge: an active alert stays as it is.
    conclusive: bool = True


@dataclass(frozen=True)
class AlertRule:
    name: str
    threshold: Callable[[], float]
    measure: Callable[[datetime], Measurement]
    describe: Callable[[float, float], str]


def _backlog(now: datetime) -> Measurement:
    return Measurement(selectors.backlog_count(now))


def _failure_rate(now: datetime) -> Measurement:
    failed, finished = selectors.failure_counts(now - timedelta(seconds=settings.ALERT_WINDOW_SECONDS))
    if finished < settings.ALERT_FAILURE_MIN_JOBS:
        return Measurement(failed / finished if finished else 0.0, conclusive=finished == 0)
    return Measurement(failed / finished)


def _average_wait(now: datetime) -> Measurement:
    wait, _ = selectors.average_wait_seconds(now, now - timedelta(seconds=settings.ALERT_WINDOW_SECONDS))
    return Measurement(wait)


RULES = (
    AlertRule(
        "backlog",
        lambda: settings.ALERT_BACKLOG_JOBS,
        _backlog,
        lambda value, threshold: f"{value:.0f} jobs are waiting for a worker (threshold {threshold:.0f}).",
    ),
    AlertRule(
        "failure_rate",
        lambda: settings.ALERT_FAILURE_RATE,
        _failure_rate,
        lambda value, threshold: f"{value:.1%} of the jobs finished in the last "
        f"{settings.ALERT_WINDOW_SECONDS // 60} minutes failed (threshold {threshold:.1%}).",
    ),
    AlertRule(
        "average_wait",
        lambda: settings.ALERT_AVERAGE_WAIT_SECONDS,
        _average_wait,
        lambda value, threshold: f"Jobs wait {value:.0f} s on average for a worker (threshold {threshold:.0f} s).",
    ),
)


def alerts_evaluate(now: datetime | None = None) -> dict[str, str]:
    """Evaluate every rule; returns {rule: "raised" | "cleared" | "active" | "ok" | "unknown"}."""
    now = now or timezone.now()
    outcome = {}
    for rule in RULES:
        measurement = rule.measure(now)
        threshold = rule.threshold()
        if not measurement.conclusive:
            outcome[rule.name] = "unknown"
        elif measurement.value >= threshold:
            alert = alert_raise(rule.name, measurement.value, threshold, rule.describe(measurement.value, threshold), now)
            outcome[rule.name] = "raised" if alert else "active"
        else:
            outcome[rule.name] = "cleared" if alert_clear(rule.name, measurement.value, now) else "ok"
    return outcome


def alert_raise(rule: str, value: float, threshold: float, message: str, now: datetime) -> Alert | None:
    """Raise the rule's alert unless it is active; notify staff once it is committed. None when it
    was already active (no second notification)."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(rule=rule, value=value, threshold=threshold, message=message, raised_at=now)
    except IntegrityError:
        return None
    transaction.on_commit(lambda: alert_notify(alert, "raised"))
    return alert


def alert_clear(rule: str, value: float, now: datetime) -> Alert | None:
    active = Alert.objects.filter(rule=rule, cleared_at__isnull=True).first()
    if active is None:
        return None
    if not Alert.objects.filter(id=active.id, cleared_at__isnull=True).update(cleared_at=now, cleared_value=value):
        return None  # another evaluator cleared it
    active.cleared_at, active.cleared_value = now, value
    transaction.on_commit(lambda: alert_notify(active, "cleared"))
    return active


def alert_notify(alert: Alert, event: str) -> None:
    """Mail the operators who may view metrics (and have an address), and POST to OPS_WEBHOOK_URL when set. A failed
    notification is logged: the alert stays visible in the admin and in /metrics."""
    subject = f"[jobservice] alert {event}: {alert.rule}"
    body = alert.message if event == "raised" else f"Cleared (value now {alert.cleared_value:g}). Was: {alert.message}"
    recipients = list(users_with_permission(VIEW_METRICS).exclude(email="").values_list("email", flat=True))
    try:
        if recipients:
            send_mail(subject, body, None, recipients)
    except Exception:
        logger.exception("Could not mail alert %s %s.", alert.rule, event)
    if settings.OPS_WEBHOOK_URL:
        payload = {"type": f"alert.{event}", "rule": alert.rule, "message": alert.message, "value": alert.value,
                   "threshold": alert.threshold, "raised_at": alert.raised_at.isoformat(),
                   "cleared_at": alert.cleared_at.isoformat() if alert.cleared_at else None}
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        # Signed like job webhooks (Standard Webhooks) with OPS_WEBHOOK_SECRET; the id names the
        # alert and the event, so a receiver can drop a repeat.
        headers = signed_headers([settings.OPS_WEBHOOK_SECRET], f"alert_{alert.id}_{event}", body, timezone.now())
        try:
            with TryDeadline(settings.WEBHOOK_TIMEOUT) as deadline, checked_session(deadline) as session:
                session.post(settings.OPS_WEBHOOK_URL, data=body.encode(), timeout=settings.WEBHOOK_TIMEOUT,
                             headers=headers, allow_redirects=False).raise_for_status()
        except Exception:
            logger.exception("Could not post alert %s %s to OPS_WEBHOOK_URL.", alert.rule, event)
