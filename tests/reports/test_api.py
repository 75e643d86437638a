"""POST /api/reports/generate: the domain endpoint's validation, before the broker."""
from __future__ import annotations

import pytest

from jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"start_date": "2026-01-01"}, id="missing-end"),
        pytest.param({"start_date": "yesterday", "end_date": "2026-01-01"}, id="bad-date"),
        pytest.param({"start_date": "2026-01-05", "end_date": "2026-01-01"}, id="end-before-start"),
        pytest.param({"start_date": "2026-01-01", "end_date": "2026-01-02", "format": "xlsx"}, id="bad-format"),
        pytest.param({"start_date": "2026-01-01", "end_date": "2026-01-02", "extra": 1}, id="unknown-field"),
    ],
)
def test_bad_report_request_is_400(api, body):
    response = api.post("/api/reports/generate", body, format="json")
    assert response.status_code == 400, response.content
    assert Job.objects.count() == 0


def test_report_errors_are_reported_against_the_endpoints_own_fields(api):
    response = api.post("/api/reports/generate", {"start_date": "2026-01-05", "end_date": "2026-01-01"}, format="json")
    assert response.json() == {"end_date": ["end_date must not be before start_date."]}


def test_a_report_can_be_delayed(api):
    response = api.post(
        "/api/reports/generate", {"start_date": "2026-01-01", "end_date": "2026-01-02", "delay_seconds": 60}, format="json"
    )
    assert response.status_code == 202
    job = Job.objects.get(id=response.json()["id"])
    assert job.status == JobStatus.SCHEDULED and job.input == {"start_date": "2026-01-01", "end_date": "2026-01-02", "format": "csv"}
