"""Idempotency-Key on job submission (IETF draft / Stripe semantics)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from jobs.models import AuditEvent, Job

SLEEP = {"type": "diagnostics.sleep", "input": {"seconds": 0}, "delay_seconds": 3600}


def post(client, body=SLEEP, key="key-1", path="/api/jobs/"):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_same_key_and_body_returns_the_original_job(api):
    first = post(api)
    second = post(api)

    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert second["Location"] == first["Location"]
    assert Job.objects.count() == 1
    assert AuditEvent.objects.filter(action="job.enqueue").count() == 1


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_422(api):
    post(api)
    response = post(api, {**SLEEP, "input": {"seconds": 1}})
    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_one_user_and_one_endpoint(api, other_api):
    mine = post(api).json()["id"]
    theirs = post(other_api).json()["id"]
    assert mine != theirs
    report = {"start_date": "2026-01-01", "end_date": "2026-01-02"}
    assert post(api, report, key="key-r", path="/api/reports/generate").status_code == 202
    assert post(api, report, key="key-r", path="/api/reports/generate")["Idempotent-Replayed"] == "true"
    assert post(api, report, key="key-1", path="/api/reports/generate").status_code == 422


@pytest.mark.django_db
def test_keys_expire_after_24_hours(api):
    first = post(api).json()["id"]
    Job.objects.filter(id=first).update(created_at=timezone.now() - timedelta(hours=25))

    second = post(api)
    assert second.status_code == 202 and "Idempotent-Replayed" not in second
    assert second.json()["id"] != first
    assert Job.objects.get(id=first).idempotency_key is None


@pytest.mark.django_db
def test_an_invalid_request_with_a_key_stores_nothing(api):
    assert post(api, {"type": "diagnostics.sleep", "input": {"seconds": "x"}}).status_code == 400
    assert post(api).status_code == 202
    assert post(api, key="x" * 256).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_job(user):
    key = Token.objects.create(user=user).key

    def submit(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            response = post(client, key="race")
            assert response.status_code == 202, response.content
            return response.json()["id"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(submit, range(16)))

    assert len(set(ids)) == 1
    assert Job.objects.filter(owner=user).count() == 1
