"""The retry schedule and the recovery of lost tries, called directly (no broker)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from notifications.models import WebhookDelivery
from notifications.webhooks import webhook_retry_delay, webhooks_dispatch_due


def test_the_default_schedule_is_six_tries_over_about_an_hour(settings):
    settings.WEBHOOK_RETRY_DELAYS = [10.0, 40.0, 160.0, 640.0, 2560.0]
    settings.WEBHOOK_RETRY_JITTER = 0.2

    waits = [webhook_retry_delay(n, rand=lambda: 0.5) for n in range(1, 6)]

    assert waits == [10.0, 40.0, 160.0, 640.0, 2560.0]
    assert 55 * 60 < sum(waits) < 60 * 60
    assert webhook_retry_delay(1, rand=lambda: 0.0) == pytest.approx(8.0)
    assert webhook_retry_delay(1, rand=lambda: 1.0) == pytest.approx(12.0)


@pytest.mark.django_db
def test_a_try_whose_worker_died_is_recorded_and_sent_again(user, settings):
    settings.WEBHOOK_DISPATCH_GRACE_SECONDS = 60
    long_ago = timezone.now() - timedelta(minutes=10)
    job = Job.objects.create(owner=user, type="diagnostics.sleep", status="completed", webhook_url="https://example.com/h")
    stuck = WebhookDelivery.objects.create(
        job=job, event_type="job.completed", url=job.webhook_url, payload={}, status="sending",
        attempts=1, max_attempts=3, claimed_at=long_ago,
    )
    last = WebhookDelivery.objects.create(
        job=job, event_type="job.completed", url=job.webhook_url, payload={}, status="sending",
        attempts=3, max_attempts=3, claimed_at=long_ago,
    )

    webhooks_dispatch_due()

    stuck.refresh_from_db()
    last.refresh_from_db()
    assert stuck.status == "pending" and stuck.attempt_rows.get().error == "The worker stopped during this try."
    assert last.status == "failed" and last.finished_at and not last.attempt_rows.get().will_retry
