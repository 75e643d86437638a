"""/metrics: who may read it, and figures that move as a real worker runs a job."""
from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import wait_for_job


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


SLEEP = (("queue", "default"), ("type", "diagnostics.sleep"))


@pytest.mark.worker
def test_metrics_move_as_a_job_runs_on_a_real_worker(worker, api, client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    bearer = {"HTTP_AUTHORIZATION": "Bearer scrape-me"}
    before = scrape(client, **bearer)

    job_id = api.post("/api/jobs/", {"type": "diagnostics.sleep", "input": {"seconds": 0.2}}, format="json").json()["id"]
    wait_for_job(job_id)
    after = scrape(client, **bearer)

    def moved(name, labels=SLEEP):
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    assert moved("jobservice_jobs_enqueued_total") == 1
    assert moved("jobservice_jobs_completed_total") == 1
    assert moved("jobservice_jobs_failed_total") == 0
    assert moved("jobservice_job_processing_seconds_count") == 1
    assert moved("jobservice_job_processing_seconds_sum") >= 0.2
    assert moved("jobservice_job_processing_seconds_bucket", (("le", "0.1"), *SLEEP)) == 0
    assert moved("jobservice_job_processing_seconds_bucket", (("le", "+Inf"), *SLEEP)) == 1
    assert moved("jobservice_job_waiting_seconds_count") == 1
    assert after[("jobservice_jobs_running", SLEEP)] == 0
    assert ("jobservice_queue_length", (("queue", "default"),)) in after
    assert ("jobservice_dead_letters", ()) in after


@pytest.mark.django_db
def test_metrics_need_a_staff_session_or_the_bearer_token(client, user, bare_staff, staff_user, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.force_login(user)
    assert client.get("/metrics").status_code == 401
    client.force_login(bare_staff)
    assert client.get("/metrics").status_code == 401
    client.force_login(staff_user)
    assert "jobservice_jobs_enqueued" in client.get("/metrics").content.decode()
    settings.METRICS_TOKEN = ""
    client.logout()
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_operations_dashboard_is_staff_only_and_serves_its_figures(client, user, staff_user):
    client.force_login(user)
    assert client.get("/admin/ops/alert/dashboard/").status_code == 302
    client.force_login(staff_user)
    page = client.get("/admin/ops/alert/dashboard/")
    data = client.get("/admin/ops/alert/dashboard/data/").json()
    index = client.get("/admin/")

    assert page.status_code == 200 and "Per job type, last hour" in page.content.decode()
    assert set(data) >= {"queues", "jobs", "backlog", "dead_letters", "last_hour", "last_day", "alerts"}
    assert "/admin/ops/alert/dashboard/" in index.content.decode()
