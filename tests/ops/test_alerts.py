"""Alert rules: raised once, notified once, cleared when the condition clears."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.celery import app
from jobs.models import Job, JobAttempt, JobStatus
from ops.alerts import alert_raise, alerts_evaluate
from ops.models import Alert

from ..conftest import make_operator
from ..support import ROOT
from ..notifications.receiver import Receiver


@pytest.fixture
def staff_with_mail(db):
    return make_operator("oncall", "Job viewers", email="oncall@example.com")


def jobs(owner, n, **fields):
    Job.objects.bulk_create([Job(owner=owner, type="diagnostics.sleep", **fields) for _ in range(n)])


def fill_backlog(owner, now):
    jobs(owner, 3, status=JobStatus.PENDING)


def clear_backlog(owner, now):
    Job.objects.filter(status=JobStatus.PENDING).update(status=JobStatus.COMPLETED, completed_at=now)


def fill_failures(owner, now):
    jobs(owner, 8, status=JobStatus.COMPLETED, completed_at=now - timedelta(minutes=5))
    jobs(owner, 2, status=JobStatus.FAILED, completed_at=now - timedelta(minutes=5))


def clear_failures(owner, now):
    jobs(owner, 60, status=JobStatus.COMPLETED, completed_at=now - timedelta(minutes=1))


def fill_waits(owner, now):
    # Two jobs that waited 10 minutes for their first attempt, started in the window.
    for _ in range(2):
        job = Job.objects.create(owner=owner, type="diagnostics.sleep", status=JobStatus.COMPLETED, attempts=1)
        Job.objects.filter(id=job.id).update(created_at=now - timedelta(minutes=12))
        JobAttempt.objects.create(job=job, number=1, started_at=now - timedelta(minutes=2), outcome="completed")


def clear_waits(owner, now):
    JobAttempt.objects.update(started_at=now - timedelta(minutes=30))  # out of the window


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rule, fill, clear", [
    ("backlog", fill_backlog, clear_backlog),
    ("failure_rate", fill_failures, clear_failures),
    ("average_wait", fill_waits, clear_waits),
])
def test_each_rule_raises_once_notifies_once_and_clears(settings, user, staff_with_mail, rule, fill, clear):
    settings.ALERT_BACKLOG_JOBS = 3
    settings.ALERT_FAILURE_MIN_JOBS = 10
    now = timezone.now()

    assert alerts_evaluate(now)[rule] in ("ok", "unknown")
    fill(user, now)
    first = alerts_evaluate(now)[rule]
    second = alerts_evaluate(now + timedelta(seconds=1))[rule]

    assert (first, second) == ("raised", "active")
    alert = Alert.objects.get(rule=rule)
    assert alert.active and alert.value >= alert.threshold
    assert [m.subject for m in mail.outbox] == [f"[jobservice] alert raised: {rule}"]
    assert mail.outbox[0].to == ["oncall@example.com"]

    clear(user, now)
    assert alerts_evaluate(now + timedelta(seconds=2))[rule] == "cleared"
    assert alerts_evaluate(now + timedelta(seconds=3))[rule] == "ok"
    alert.refresh_from_db()
    assert not alert.active and alert.cleared_at is not None
    assert [m.subject for m in mail.outbox][1:] == [f"[jobservice] alert cleared: {rule}"]


@pytest.mark.django_db
def test_two_evaluators_raise_one_alert(settings):
    now = timezone.now()
    assert alert_raise("backlog", 5, 3, "m", now) is not None
    assert alert_raise("backlog", 6, 3, "m", now) is None
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(rule="backlog", value=1, threshold=1, message="direct insert")
    assert Alert.objects.filter(rule="backlog", cleared_at__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_alert_is_posted_to_the_operations_webhook_signed(settings, user):
    from standardwebhooks.webhooks import Webhook

    from notifications.webhooks import new_webhook_secret

    receiver = Receiver(200)
    settings.OPS_WEBHOOK_URL = receiver.url
    settings.OPS_WEBHOOK_SECRET = new_webhook_secret()
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.ALERT_BACKLOG_JOBS = 1
    try:
        jobs(user, 1, status=JobStatus.PENDING)
        alerts_evaluate()
    finally:
        receiver.close()
    request = receiver.requests[0]
    body = Webhook(settings.OPS_WEBHOOK_SECRET).verify(request["body"], request["headers"])  # raises unless signed
    assert body["type"] == "alert.raised" and body["rule"] == "backlog"
    with pytest.raises(Exception):
        Webhook(new_webhook_secret()).verify(request["body"], request["headers"])


def test_an_operations_webhook_without_a_secret_is_refused_at_start():
    env = {**os.environ, "OPS_WEBHOOK_URL": "https://ops.example/hook", "OPS_WEBHOOK_SECRET": ""}
    started = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                             capture_output=True, text=True)
    assert started.returncode != 0 and "OPS_WEBHOOK_SECRET" in started.stderr


def test_beat_evaluates_alerts_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["ops.evaluate_alerts"]
    assert entry["task"] == "ops.evaluate_alerts" and entry["schedule"] == 60.0
    app.loader.import_default_modules()
    assert "ops.evaluate_alerts" in app.tasks
