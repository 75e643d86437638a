"""The SSRF guard, in this process with the guard on: at submit time and at send time."""
from __future__ import annotations

import pytest

from jobs.models import Job
from notifications.models import WebhookDelivery
from notifications.ssrf import address_is_public
from notifications.webhooks import webhook_send

from .receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def guard_on(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("0.0.0.0", False),
        ("::ffff:127.0.0.1", False),
    ],
)
def test_only_public_addresses_are_allowed(address, public):
    assert address_is_public(address) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8000/hook",
        "http://[::1]/hook",
        "https://10.0.0.5/hook",
        "http://0.0.0.0/",
    ],
)
def test_submitting_a_private_webhook_url_answers_400(api, url):
    response = api.post("/api/jobs/", {"type": "diagnostics.sleep", "input": {}, "webhook_url": url}, format="json")

    assert response.status_code == 400
    [message] = response.json()["webhook_url"]
    assert "webhooks are only sent to public addresses" in message
    assert not Job.objects.exists()


def test_the_reports_endpoint_refuses_them_too(api):
    response = api.post(
        "/api/reports/generate",
        {"start_date": "2026-01-01", "end_date": "2026-01-02", "webhook_url": "http://169.254.169.254/"},
        format="json",
    )
    assert response.status_code == 400 and "webhook_url" in response.json()


def test_an_unresolvable_host_is_refused(api):
    response = api.post(
        "/api/jobs/", {"type": "diagnostics.sleep", "webhook_url": "https://no-such-host.invalid/hook"}, format="json"
    )
    assert response.status_code == 400 and "could not be resolved" in response.json()["webhook_url"][0]


def test_the_address_is_checked_again_when_sending(user):
    # Given a delivery to loopback that got past submission (e.g. DNS changed since)
    receiver = Receiver(200)
    try:
        job = Job.objects.create(owner=user, type="diagnostics.sleep", status="completed", webhook_url=receiver.url)
        delivery = WebhookDelivery.objects.create(job=job, event_type="job.completed", url=receiver.url, payload={}, max_attempts=1)

        # When a try is made with the guard on
        result = webhook_send(delivery, "whsec_" + "A" * 44)
    finally:
        receiver.close()

    # Then nothing was sent, and the try is final
    assert receiver.requests == []
    assert result.error.startswith("Refused") and "127.0.0.1" in result.error and not result.retryable
