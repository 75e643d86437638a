"""Webhook secret and delivery endpoints, and the admin's redeliver action."""
from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from jobs.models import AuditEvent, Job
from notifications.models import WebhookAttempt, WebhookDelivery

pytestmark = pytest.mark.django_db


def test_the_secret_is_created_on_first_use_and_stays(api):
    first = api.get("/api/webhooks/secret")
    second = api.get("/api/webhooks/secret")

    assert first.status_code == 200
    secret = first.json()["secret"]
    assert secret.startswith("whsec_") and second.json()["secret"] == secret
    Webhook(secret)  # the library accepts it


def test_rotating_replaces_the_secret_and_is_audited(api, user):
    old = api.get("/api/webhooks/secret").json()["secret"]

    response = api.post("/api/webhooks/secret/rotate")

    assert response.status_code == 200
    new = response.json()["secret"]
    assert new != old and new.startswith("whsec_") and response.json()["rotated_at"]
    assert api.get("/api/webhooks/secret").json()["secret"] == new
    event = AuditEvent.objects.get(action="webhook.secret_rotate")
    assert event.actor == user and event.target == f"user:{user.pk}" and event.client_address == "127.0.0.1"


def test_secrets_are_per_user(api, other_api):
    assert api.get("/api/webhooks/secret").json()["secret"] != other_api.get("/api/webhooks/secret").json()["secret"]


def test_the_secret_needs_credentials(client):
    assert client.get("/api/webhooks/secret").status_code in (401, 403)


@pytest.fixture
def delivered(user):
    job = Job.objects.create(owner=user, type="diagnostics.sleep", status="completed", webhook_url="https://example.com/h")
    delivery = WebhookDelivery.objects.create(
        job=job, event_type="job.completed", url=job.webhook_url, payload={"type": "job.completed"},
        status="failed", attempts=1, max_attempts=1,
    )
    WebhookAttempt.objects.create(delivery=delivery, number=1, started_at=job.created_at, duration_ms=12, status_code=410, error="HTTP 410")
    return delivery


def test_deliveries_are_shown_like_the_job(api, other_api, staff_api, delivered):
    url = f"/api/jobs/{delivered.job_id}/deliveries"

    [shown] = api.get(url).json()
    assert shown["webhook_id"] == delivered.webhook_id and shown["status"] == "failed"
    assert shown["attempts"] == [
        {"number": 1, "started_at": shown["attempts"][0]["started_at"], "duration_ms": 12, "status_code": 410,
         "response_excerpt": "", "error": "HTTP 410", "will_retry": False}
    ]
    assert other_api.get(url).status_code == 404
    assert staff_api.get(url).status_code == 200
    assert api.get("/api/jobs/NO-SUCH-JOB/deliveries").status_code == 404


def test_the_admin_redelivers_with_the_same_webhook_id(client, staff_user, delivered):
    client.force_login(staff_user)

    response = client.post(
        "/admin/notifications/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivered.pk]}, follow=True
    )

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(pk=delivered.pk)
    assert delivery.status == "pending" and delivery.max_attempts == 2 and delivery.webhook_id == delivered.webhook_id
    assert AuditEvent.objects.filter(action="webhook.redeliver", job=delivered.job, actor=staff_user).exists()
    # The job's admin page lists its deliveries.
    page = client.get(f"/admin/jobs/job/{delivered.job_id}/change/")
    assert delivered.webhook_id in page.content.decode()
