"""API behaviour that stops before the broker: auth, validation, listing, schema."""
from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from jobs.models import AuditEvent, Job, JobStatus

pytestmark = pytest.mark.django_db


def test_no_credentials_is_401():
    client = APIClient()
    assert client.get("/api/jobs/").status_code == 401
    assert client.post("/api/jobs/", {"type": "diagnostics.sleep"}, format="json").status_code == 401
    assert client.get("/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 401
    assert client.post("/api/reports/generate", {}, format="json").status_code == 401


def test_unknown_job_id_is_404(api):
    assert api.get("/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


BAD_JOBS = [
    pytest.param({"type": "no.such.type", "input": {}}, "type", id="unknown-type"),
    pytest.param({"input": {}}, "type", id="missing-type"),
    pytest.param({"type": "diagnostics.sleep", "input": {"seconds": "lots"}}, "input", id="wrong-type-string"),
    pytest.param({"type": "diagnostics.sleep", "input": {"steps": 1.5}}, "input", id="wrong-type-float"),
    pytest.param({"type": "diagnostics.sleep", "input": {"seconds": 601}}, "input", id="out-of-range"),
    pytest.param({"type": "diagnostics.sleep", "input": {"sleep": 1}}, "input", id="unknown-field"),
    pytest.param({"type": "diagnostics.sleep", "input": [1, 2]}, "input", id="input-not-object"),
    pytest.param({"type": "diagnostics.sleep", "input": {}, "priority": "urgent"}, "priority", id="bad-priority"),
    pytest.param({"type": "diagnostics.sleep", "input": {}, "webhook_url": "not a url"}, "webhook_url", id="bad-url"),
    pytest.param({"type": "diagnostics.sleep", "input": {}, "delay_seconds": -1}, "delay_seconds", id="neg-delay"),
    pytest.param({"type": "reports.generate", "input": {"start_date": "2026-02-30", "end_date": "2026-03-01"}}, "input", id="bad-date"),
    pytest.param({"type": "reports.generate", "input": {"start_date": "2026-03-02", "end_date": "2026-03-01"}}, "input", id="end-before-start"),
    pytest.param({"type": "diagnostics.sleep", "input": {"pad": "x" * 70_000}}, "input", id="oversized-input"),
    pytest.param({"type": "diagnostics.sleep", "input": {}, "extra": 1}, "extra", id="unknown-top-level-field"),
    pytest.param({"type": "diagnostics.sleep", "webhook_url": "ftp://example.com/x"}, "webhook_url", id="ftp-webhook"),
    pytest.param({"type": "diagnostics.sleep", "run_at": "9999-12-31T23:59:59Z"}, "run_at", id="run-at-too-far"),
    pytest.param({"type": "diagnostics.sleep", "run_at": "2026-01-01T00:00:00Z", "delay_seconds": 5}, "run_at", id="both-delays"),
]


@pytest.mark.parametrize("body, field", BAD_JOBS)
def test_bad_input_is_400_with_field_errors_and_creates_nothing(api, body, field):
    response = api.post("/api/jobs/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Job.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_deeply_nested_json_is_400_not_a_crash(api):
    depth = 100_000
    for body in ("[" * depth + "]" * depth, '{"type": "diagnostics.sleep", "input": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"):
        response = api.post("/api/jobs/", body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "detail" in response.json()
    assert Job.objects.count() == 0


def test_only_json_bodies_are_accepted(api):
    response = api.post("/api/jobs/", {"type": "diagnostics.sleep"}, format="multipart")
    assert response.status_code == 415
    assert Job.objects.count() == 0


def test_field_errors_name_the_input_field(api):
    response = api.post(
        "/api/jobs/",
        {"type": "reports.generate", "input": {"start_date": "2026-03-02", "end_date": "2026-03-01"}},
        format="json",
    )
    assert response.json() == {"input": {"end_date": ["end_date must not be before start_date."]}}


def test_oversized_request_body_is_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/jobs/", {"type": "diagnostics.sleep", "input": {"x": "y" * 2000}}, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large."}
    assert Job.objects.count() == 0


def test_malformed_json_is_400(api):
    response = api.post("/api/jobs/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert Job.objects.count() == 0


def make_job(owner, **fields):
    return Job.objects.create(owner=owner, type=fields.pop("type", "diagnostics.sleep"), **fields)


def test_list_shows_only_own_jobs_with_filters_and_pagination(api, user, other_user):
    for _ in range(3):
        make_job(user, status=JobStatus.COMPLETED)
    make_job(user, status=JobStatus.FAILED, type="reports.generate")
    make_job(other_user, status=JobStatus.COMPLETED)

    everything = api.get("/api/jobs/").json()
    assert everything["count"] == 4
    assert {job["id"] for job in everything["results"]} == set(Job.objects.filter(owner=user).values_list("id", flat=True))
    ids = [job["id"] for job in everything["results"]]
    assert ids == sorted(ids, reverse=True), "newest first"

    assert api.get("/api/jobs/?status=failed").json()["count"] == 1
    assert api.get("/api/jobs/?type=reports.generate").json()["count"] == 1
    assert api.get("/api/jobs/?status=completed&type=diagnostics.sleep").json()["count"] == 3
    page = api.get("/api/jobs/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    assert api.get("/api/jobs/?status=exploded").status_code == 400


def test_a_long_history_is_counted_up_to_the_cap_and_paged_further_with_before(api, user, monkeypatch):
    from common.pagination import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "CAP", 5)
    ids = sorted(make_job(user, status=JobStatus.COMPLETED).id for _ in range(8))

    first = api.get("/api/jobs/?page_size=3").json()
    assert first["count"] == 5, "the count stops at the cap"
    assert [job["id"] for job in first["results"]] == ids[::-1][:3]
    older = api.get(f"/api/jobs/?page_size=3&before={ids[3]}").json()
    assert [job["id"] for job in older["results"]] == [ids[2], ids[1], ids[0]]
    assert older["count"] == 3
    response = api.get("/api/jobs/?before=not-an-id!")
    assert response.status_code == 400 and "before" in response.json()


def test_job_types_lists_registered_types_with_input_schemas(api):
    types = {item["name"]: item for item in api.get("/api/job-types/").json()}

    assert {"diagnostics.sleep", "reports.generate"} <= set(types)
    report_schema = types["reports.generate"]["input_schema"]
    assert set(report_schema["required"]) == {"start_date", "end_date"}
    assert report_schema["properties"]["start_date"]["format"] == "date"
    assert types["diagnostics.sleep"]["input_schema"]["properties"]["seconds"]["maximum"] == 600


def test_openapi_schema_and_docs_are_served(api, client, staff_user):
    schema = api.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/jobs/", "/api/jobs/{job_id}", "/api/reports/generate", "/api/job-types/"} <= set(paths)
    client.force_login(staff_user)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_cancel_finished_job_is_409_and_waiting_job_is_cancelled_and_audited(api, user):
    done = make_job(user, status=JobStatus.COMPLETED)
    waiting = make_job(user, status=JobStatus.PENDING)

    assert api.post(f"/api/jobs/{done.id}/cancel").status_code == 409
    response = api.post(f"/api/jobs/{waiting.id}/cancel")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    event = AuditEvent.objects.get(action="job.cancel")
    assert event.job_id == waiting.id and event.actor == user and event.client_address == "127.0.0.1"


def test_session_auth_works_for_the_browsable_api(client, user):
    client.force_login(user)
    assert client.get("/api/jobs/", HTTP_ACCEPT="application/json").status_code == 200


def test_queue_stats_are_for_staff_only(api, staff_api, user):
    make_job(user, status=JobStatus.RUNNING)
    assert api.get("/api/queues/").status_code == 403

    stats = staff_api.get("/api/queues/").json()
    assert set(stats["queues"]) == {"high", "default", "low"}
    assert all(isinstance(n, int) for n in stats["queues"].values()), "read from the real broker"
    assert stats["jobs"]["running"] == 1 and stats["jobs"]["failed"] == 0


def test_queue_stats_count_the_dead_letters_and_cap_the_history(staff_api, user, monkeypatch):
    from common.pagination import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    for _ in range(5):
        make_job(user, status=JobStatus.COMPLETED)
    make_job(user, status=JobStatus.FAILED)
    make_job(user, status=JobStatus.FAILED, discarded_at=timezone.now())
    make_job(user, status=JobStatus.PENDING)

    jobs = staff_api.get("/api/queues/").json()["jobs"]
    assert (jobs["completed"], jobs["failed"], jobs["pending"], jobs["running"]) == (3, 1, 1, 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_cancels_of_one_job_succeed_once(user):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection
    from rest_framework.authtoken.models import Token

    job = make_job(user, status=JobStatus.PENDING)
    key = Token.objects.create(user=user).key

    def cancel(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            return client.post(f"/api/jobs/{job.id}/cancel").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = sorted(pool.map(cancel, range(6)))

    assert codes == [200] + [409] * 5
    assert AuditEvent.objects.filter(action="job.cancel", job=job).count() == 1


def test_job_path_matches_reverse_under_any_script_prefix():
    from django.urls import reverse, set_script_prefix

    from jobs.representation import job_path

    job_id = "01M88EET2WKYMGV304NJHAQA4F"
    try:
        for prefix in ("/", "/jobs-service/"):
            set_script_prefix(prefix)
            for name in ("job-detail", "job-result"):
                assert job_path(name, job_id) == reverse(name, args=[job_id])
        assert job_path("job-detail", job_id) == f"/jobs-service/api/jobs/{job_id}"
    finally:
        set_script_prefix("/")


def test_submission_serializers_bind_their_own_copies_of_the_declared_fields():
    """StrictSerializer copies fields shallowly (DRF deep-copies): each instance still gets its own
    bound fields, and validating one request leaves nothing behind for the next."""
    from jobs.api.serializers import JobCreateSerializer

    first = JobCreateSerializer(data={"type": "x", "input": {"a": 1}, "priority": "low"})
    second = JobCreateSerializer(data={"type": "y", "input": [], "priority": "urgent"})
    assert first.is_valid() and not second.is_valid()

    assert first.fields["priority"] is not second.fields["priority"]
    assert first.fields["priority"].parent is first and second.fields["priority"].parent is second
    assert JobCreateSerializer._declared_fields["priority"].parent is None  # the declared field is never bound
    assert first.validated_data == {"type": "x", "input": {"a": 1}, "priority": "low"}
    assert set(second.errors) == {"input", "priority"}
    third = JobCreateSerializer(data={"type": "z"})
    assert third.is_valid() and third.validated_data == {"type": "z", "input": {}}


def test_a_strict_serializer_with_a_child_field_is_refused_when_defined():
    """A shallow copy would share a ListField's child between requests: refused at class definition."""
    from rest_framework import serializers

    from jobs.api.serializers import StrictSerializer

    with pytest.raises(TypeError, match="deep copy"):
        type("Tagged", (StrictSerializer,), {"tags": serializers.ListField(child=serializers.CharField())})


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; indent=2", "text/html",
                                    "application/xml", "text/html;q=0.9, application/json"])
def test_the_negotiation_shortcut_picks_what_drf_would(accept):
    """jobs/api/negotiation.py answers plain Accept headers at once; every header gets the renderer
    and media type DRF's own negotiation picks (or the same 406)."""
    from rest_framework.exceptions import NotAcceptable
    from rest_framework.negotiation import DefaultContentNegotiation
    from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from jobs.api.negotiation import ContentNegotiation

    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]

    def pick(negotiation):
        request = Request(APIRequestFactory().get("/api/jobs/", **headers))
        try:
            renderer, media_type = negotiation.select_renderer(request, renderers)
        except NotAcceptable:
            return "406"
        return type(renderer), media_type

    assert pick(ContentNegotiation()) == pick(DefaultContentNegotiation())
