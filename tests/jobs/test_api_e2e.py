"""The HTTP API end to end: real worker process, real broker, real database."""
from __future__ import annotations

import pytest

from jobs.models import Job, JobAttempt, JobStatus

from ..conftest import wait_for_job

pytestmark = pytest.mark.worker


def submit_sleep(api, **input):
    return api.post("/api/jobs/", {"type": "diagnostics.sleep", "input": input}, format="json")


def test_post_answers_202_with_headers_and_polling_reaches_completed(worker, api):
    response = submit_sleep(api, seconds=0.3, steps=3)

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert response["Location"] == body["status_url"]
    assert body["status_url"].endswith(f"/api/jobs/{body['id']}")
    assert body["stream_url"].endswith(f"/api/jobs/{body['id']}/stream")
    assert body["ws_url"].endswith(f"/ws/jobs/{body['id']}/")
    assert int(response["Retry-After"]) >= 1

    wait_for_job(body["id"])
    job = api.get(body["status_url"]).json()
    assert job["status"] == "completed"
    assert job["progress"] == 100
    assert job["progress_message"] == "step 3/3", "the last message survives coalescing"
    assert job["output"] == {"slept_seconds": 0.3, "steps": 3, "attempt": 1}
    assert job["error"] is None
    assert job["attempts"] == 1
    assert job["started_at"] and job["completed_at"]


def test_permanent_error_fails_after_one_attempt_with_its_error(worker, api):
    job_id = submit_sleep(api, seconds=0, fail_attempts=1, error="permanent").json()["id"]

    wait_for_job(job_id)
    job = api.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "failed"
    assert job["attempts"] == 1
    assert job["error"]["type"] == "jobs.errors.PermanentError"
    assert "failed on purpose" in job["error"]["message"]
    assert job["output"] is None
    attempt = JobAttempt.objects.get(job_id=job_id)
    assert attempt.outcome == "failed" and "PermanentError" in attempt.traceback


def test_transient_error_is_retried_and_completes(worker, api):
    job_id = submit_sleep(api, seconds=0, fail_attempts=1, error="transient").json()["id"]

    job = wait_for_job(job_id)
    assert job.status == JobStatus.COMPLETED
    assert job.attempts == 2
    outcomes = list(JobAttempt.objects.filter(job_id=job_id).values_list("number", "outcome"))
    assert outcomes == [(1, "retrying"), (2, "completed")]


def test_another_users_job_is_404_and_staff_see_it(worker, api, other_api, staff_api):
    job_id = submit_sleep(api, seconds=0).json()["id"]

    assert other_api.get(f"/api/jobs/{job_id}").status_code == 404
    assert other_api.get(f"/api/jobs/{job_id}/result").status_code == 404
    assert other_api.post(f"/api/jobs/{job_id}/cancel").status_code == 404
    assert staff_api.get(f"/api/jobs/{job_id}").status_code == 200
    wait_for_job(job_id)


def test_cancel_a_running_job_stops_it_at_its_next_progress_call(worker, api):
    job_id = submit_sleep(api, seconds=20, steps=100).json()["id"]
    wait_for_job(job_id, statuses={JobStatus.RUNNING})

    response = api.post(f"/api/jobs/{job_id}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    attempt = wait_for_job_attempt_closed(job_id)
    assert attempt.outcome == "cancelled"
    assert attempt.duration_ms < 10_000
    assert Job.objects.get(id=job_id).status == JobStatus.CANCELLED
    assert api.post(f"/api/jobs/{job_id}/cancel").status_code == 409


def wait_for_job_attempt_closed(job_id):
    from ..support import wait_for

    return wait_for(
        lambda: JobAttempt.objects.filter(job_id=job_id, finished_at__isnull=False).first(),
        timeout=30,
        message="the attempt to close",
    )


def test_a_delayed_job_is_held_as_scheduled_then_runs_once_when_due(worker, api):
    from jobs.engine.dispatch import jobs_dispatch_due

    job_id = api.post(
        "/api/jobs/", {"type": "diagnostics.sleep", "input": {"seconds": 0}, "delay_seconds": 1}, format="json"
    ).json()["id"]
    assert Job.objects.get(id=job_id).status == JobStatus.SCHEDULED
    assert jobs_dispatch_due() == 0, "not due yet"

    from ..support import wait_for

    wait_for(lambda: jobs_dispatch_due() == 1, timeout=5, message="the job to become due")
    job = wait_for_job(job_id)
    assert job.status == JobStatus.COMPLETED and job.attempts == 1
    assert JobAttempt.objects.filter(job_id=job_id).count() == 1
