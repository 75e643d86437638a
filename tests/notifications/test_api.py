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


def test_the_secret_is_stored_encrypted(api, user):
    from notifications.models import WebhookSecret

    secret = api.get("/api/webhooks/secret").json()["secret"]

    stored = WebhookSecret.objects.get(user=user).secret
    assert secret not in stored and not stored.startswith("whsec_")
    assert WebhookSecret.objects.get(user=user).clear == secret


def test_after_a_rotation_tries_carry_both_signatures_until_the_overlap_ends(api, user, settings):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.models import WebhookSecret
    from notifications.webhooks import signed_headers

    old = api.get("/api/webhooks/secret").json()["secret"]
    rotated = api.post("/api/webhooks/secret/rotate").json()
    new = rotated["secret"]
    row = WebhookSecret.objects.get(user=user)
    now = timezone.now()

    headers = signed_headers(row.signing_secrets(now), "msg_1", '{"a":1}', now)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver holding either secret accepts the try
        assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}

    ends = row.previous_valid_until
    assert abs((ends - now) - timedelta(seconds=settings.WEBHOOK_SECRET_OVERLAP_SECONDS)) < timedelta(seconds=5)
    assert rotated["previous_valid_until"]
    assert row.signing_secrets(ends + timedelta(seconds=1)) == [new]


def test_signing_secrets_are_reencrypted_with_the_job_keys(user, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from notifications.models import WebhookSecret
    from notifications.services import webhook_secret_rotate

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.JOBS_ENCRYPTION_KEYS = [old_key]
    secret = webhook_secret_rotate(user, actor=user)  # a current and a previous secret
    current, previous = secret.clear, WebhookSecret.objects.get(user=user).signing_secrets(secret.rotated_at)[1]
    settings.JOBS_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("jobs_reencrypt")
    settings.JOBS_ENCRYPTION_KEYS = [new_key]  # the old key is gone: everything must open with the new one

    row = WebhookSecret.objects.get(user=user)
    assert row.signing_secrets(secret.rotated_at) == [current, previous]


def test_the_migration_encrypts_secrets_earlier_versions_stored_in_clear(user):
    import importlib

    from django.apps import apps

    from notifications.models import WebhookSecret
    from notifications.webhooks import new_webhook_secret

    migration = importlib.import_module("notifications.migrations.0004_webhook_secrets_encrypted")
    clear = new_webhook_secret()
    WebhookSecret.objects.create(user=user, secret=clear)

    migration.encrypt_stored_secrets(apps, None)

    row = WebhookSecret.objects.get(user=user)
    assert row.secret != clear and row.clear == clear
