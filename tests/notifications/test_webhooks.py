"""Webhook delivery through a real worker to a real HTTP receiver on loopback."""
from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook

from jobs.models import JobStatus
from notifications.models import WebhookDelivery
from tests.conftest import wait_for_job
from tests.support import wait_for

from .receiver import HANG, Receiver

pytestmark = pytest.mark.worker


@pytest.fixture
def receivers():
    opened: list[Receiver] = []

    def open_receiver(*answers, **kwargs) -> Receiver:
        opened.append(Receiver(*answers, **kwargs))
        return opened[-1]

    yield open_receiver
    for receiver in opened:
        receiver.close()


@pytest.fixture
def loopback_allowed(settings):
    # The API in this process accepts the loopback receiver; the worker has its own setting.
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


def submit(api, url: str, **input) -> str:
    response = api.post("/api/jobs/", {"type": "diagnostics.sleep", "input": {"seconds": 0, **input}, "webhook_url": url}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def finished_delivery(job_id: str, timeout: float = 30) -> WebhookDelivery:
    return wait_for(
        lambda: WebhookDelivery.objects.filter(job_id=job_id, status__in=["delivered", "failed"]).first(),
        timeout=timeout, message=f"the webhook delivery of job {job_id} to finish",
    )


def verified_bodies(api, receiver: Receiver) -> list[dict]:
    """Every request the receiver got, checked against the owner's secret by the standardwebhooks library."""
    secret = api.get("/api/webhooks/secret").json()["secret"]
    return [Webhook(secret).verify(r["body"], r["headers"]) for r in receiver.requests]


def test_a_completed_job_posts_a_signed_event(worker, api, receivers, loopback_allowed):
    receiver = receivers(200)
    job_id = submit(api, receiver.url)

    delivery = finished_delivery(job_id)

    assert delivery.status == "delivered"
    [event] = verified_bodies(api, receiver)
    assert event["type"] == "job.completed"
    assert event["data"]["id"] == job_id and event["data"]["status"] == "completed"
    assert event["data"]["output"]["attempt"] == 1 and event["timestamp"]
    headers = receiver.requests[0]["headers"]
    assert headers["webhook-id"] == delivery.webhook_id and headers["webhook-signature"].startswith("v1,")
    assert headers["Content-Type"] == "application/json"


def test_failed_and_cancelled_jobs_post_their_events(worker, api, receivers, loopback_allowed):
    receiver = receivers(204)
    failed_id = submit(api, receiver.url, fail_attempts=1, error="permanent")
    scheduled = api.post(
        "/api/jobs/", {"type": "diagnostics.sleep", "input": {}, "webhook_url": receiver.url, "delay_seconds": 600}, format="json"
    ).json()["id"]
    assert api.post(f"/api/jobs/{scheduled}/cancel").status_code == 200

    assert finished_delivery(failed_id).status == "delivered"
    assert finished_delivery(scheduled).status == "delivered"
    events = {event["data"]["id"]: event for event in verified_bodies(api, receiver)}
    assert events[failed_id]["type"] == "job.failed" and events[failed_id]["data"]["error"]["type"]
    assert events[scheduled]["type"] == "job.cancelled"


def test_a_receiver_failing_twice_gets_the_event_on_the_third_try(worker, api, receivers, loopback_allowed):
    receiver = receivers(500, 500, 200)
    job_id = submit(api, receiver.url)

    delivery = finished_delivery(job_id)

    assert delivery.status == "delivered" and delivery.attempts == 3
    tries = list(delivery.attempt_rows.values_list("number", "status_code", "will_retry"))
    assert tries == [(1, 500, True), (2, 500, True), (3, 200, False)]
    assert all(row.duration_ms is not None and row.response_excerpt.startswith("answer") for row in delivery.attempt_rows.all())
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {delivery.webhook_id}
    assert len(verified_bodies(api, receiver)) == 3

    # The API shows the same log to the job's owner.
    [shown] = api.get(f"/api/jobs/{job_id}/deliveries").json()
    assert [a["status_code"] for a in shown["attempts"]] == [500, 500, 200] and shown["webhook_id"] == delivery.webhook_id


def test_a_receiver_that_never_answers_ends_in_a_failed_delivery(worker, api, receivers, loopback_allowed):
    receiver = receivers(HANG)
    job_id = submit(api, receiver.url)

    delivery = finished_delivery(job_id, timeout=40)

    # The worker's schedule is 3 tries (WEBHOOK_RETRY_DELAYS=0.2,0.2), each timing out after 1 s.
    assert delivery.status == "failed" and delivery.attempts == delivery.max_attempts == 3
    rows = list(delivery.attempt_rows.all())
    assert [row.will_retry for row in rows] == [True, True, False]
    assert all(row.status_code is None and row.error.startswith("Timed out") for row in rows)
    assert wait_for_job(job_id).status == JobStatus.COMPLETED


@pytest.mark.parametrize("answer", [302, 410])
def test_redirects_and_client_errors_are_final(worker, api, receivers, loopback_allowed, answer):
    target = receivers(200)
    receiver = receivers(answer, location=target.url)
    job_id = submit(api, receiver.url)

    delivery = finished_delivery(job_id)

    assert delivery.status == "failed"
    [row] = delivery.attempt_rows.all()
    assert row.status_code == answer and not row.will_retry
    assert target.requests == []
    if answer == 302:
        assert "not followed" in row.error


def test_webhook_body_is_the_job_as_the_api_shows_it(worker, api, receivers, loopback_allowed):
    receiver = receivers(200)
    job_id = submit(api, receiver.url)
    finished_delivery(job_id)

    shown = api.get(f"/api/jobs/{job_id}").json()
    [event] = [json.loads(r["body"]) for r in receiver.requests]
    assert {k: v for k, v in event["data"].items() if not k.endswith("_url")} == {
        k: v for k, v in shown.items() if not k.endswith("_url")
    }
