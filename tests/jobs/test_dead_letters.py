"""Retries as they happen, the dead-letter console in the admin, replay."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from unittest import mock

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from jobs import selectors
from jobs.engine import actions, running
from jobs.models import DEAD_LETTERS, AuditEvent, DeadLetterTally, Job, JobAttempt, JobStatus
from jobs.selectors import dead_letter_count

from ..conftest import wait_for_job
from ..support import wait_for


def submit(api, **input):
    response = api.post("/api/jobs/", {"type": "diagnostics.sleep", "input": input}, format="json")
    assert response.status_code == 202
    return response.json()["id"]


def failed_job(user, **fields):
    return Job.objects.create(
        owner=user, type="diagnostics.sleep", input={"seconds": 0, "steps": 1, "fail_attempts": 1,
                                                     "error": "permanent", "record_effect": False},
        status=JobStatus.FAILED, attempts=1, max_attempts=5, error_type="jobs.errors.PermanentError",
        error_message="failed on purpose", **fields,
    )


@pytest.mark.worker
def test_transient_errors_retry_with_growing_gaps_and_the_api_shows_it(worker, api):
    job_id = submit(api, seconds=0, fail_attempts=2, error="transient")

    seen_retrying = wait_for(lambda: (j := api.get(f"/api/jobs/{job_id}").json())["status"] == "retrying" and j,
                             timeout=20, interval=0.02, message="the job to be retrying")
    assert seen_retrying["next_retry_at"] and seen_retrying["error"]["type"] == "jobs.errors.TransientError"
    job = wait_for_job(job_id)

    assert job.status == JobStatus.COMPLETED and job.attempts == 3
    attempts = list(JobAttempt.objects.filter(job_id=job_id).order_by("number"))
    assert [a.outcome for a in attempts] == ["retrying", "retrying", "completed"]
    gaps = [(attempts[i + 1].started_at - attempts[i].finished_at).total_seconds() for i in range(2)]
    assert 0.4 < gaps[0] < gaps[1], f"gaps should grow: {gaps}"


@pytest.mark.worker
def test_permanent_error_fails_after_exactly_one_attempt(worker, api):
    job = wait_for_job(submit(api, seconds=0, fail_attempts=3, error="permanent"))
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert JobAttempt.objects.filter(job=job).count() == 1


@pytest.mark.worker
def test_exhausted_attempts_end_failed_in_the_dead_letter_list(worker, api, client, staff_user):
    job = wait_for_job(submit(api, seconds=0, fail_attempts=5, error="transient"), timeout=60)

    assert job.status == JobStatus.FAILED and job.attempts == 5 == job.max_attempts
    client.force_login(staff_user)
    page = client.get(reverse("admin:jobs_deadletter_changelist") + "?error_type=jobs.errors.TransientError")
    assert page.status_code == 200
    assert job.id in page.content.decode()
    detail = client.get(reverse("admin:jobs_deadletter_change", args=[job.id])).content.decode()
    assert "TransientError" in detail and "Traceback (most recent call last)" in detail


@pytest.mark.worker
def test_replay_through_the_admin_action_completes_and_is_audited(worker, api, client, staff_user):
    job = wait_for_job(submit(api, seconds=0, fail_attempts=1, error="permanent"))
    assert job.status == JobStatus.FAILED
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:jobs_deadletter_changelist"),
        {"action": "replay_selected", "_selected_action": [job.id]},
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 302
    job = wait_for_job(job.id, statuses={JobStatus.COMPLETED})
    assert job.attempts == 2 and job.output["attempt"] == 2
    event = AuditEvent.objects.get(action="job.replay", job=job)
    assert event.actor == staff_user and event.client_address == "10.1.2.3"
    assert event.details["after_attempt"] == 1


@pytest.mark.worker
def test_replay_with_edited_input_is_validated_then_runs(worker, api, client, staff_user):
    job = wait_for_job(submit(api, seconds=0, fail_attempts=3, error="permanent"))
    client.force_login(staff_user)
    url = reverse("admin:jobs_deadletter_replay_with_input", args=[job.id])
    assert client.get(url).status_code == 200

    bad = client.post(url, {"input": '{"seconds": "soon"}'})
    assert bad.status_code == 200 and "seconds" in bad.content.decode()
    assert Job.objects.get(id=job.id).status == JobStatus.FAILED

    client.post(url, {"input": '{"seconds": 0, "steps": 2}'})
    job = wait_for_job(job.id, statuses={JobStatus.COMPLETED})
    assert job.input["steps"] == 2 and job.input["fail_attempts"] == 0
    assert AuditEvent.objects.filter(action="job.replay_edited", job=job).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_replays_start_one_run(user, staff_user):
    job = failed_job(user)

    def replay(_):
        try:
            return actions.job_replay(Job.objects.get(id=job.id), actor=staff_user)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(replay, range(8)))

    assert results.count(True) == 1
    assert AuditEvent.objects.filter(action="job.replay", job=job).count() == 1
    replayed = Job.objects.get(id=job.id)
    assert replayed.status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED)
    assert replayed.max_attempts == 1 + 5


@pytest.mark.django_db
def test_discard_leaves_the_dead_letter_list_but_keeps_the_job(user, staff_user, client):
    job = failed_job(user)
    client.force_login(staff_user)

    client.post(reverse("admin:jobs_deadletter_discard", args=[job.id]))

    assert Job.objects.get(id=job.id).discarded_at is not None
    def listed(name):
        return [row.id for row in client.get(reverse(name)).context["cl"].result_list]

    assert job.id not in listed("admin:jobs_deadletter_changelist")
    assert job.id in listed("admin:jobs_job_changelist")
    assert AuditEvent.objects.filter(action="job.discard", job=job, actor=staff_user).count() == 1


@pytest.mark.django_db
def test_dead_letters_are_grouped_by_error_type(user, staff_user, client):
    for _ in range(3):
        failed_job(user)
    timeout = failed_job(user)
    Job.objects.filter(id=timeout.id).update(error_type="requests.exceptions.ConnectTimeout")
    client.force_login(staff_user)

    page = client.get(reverse("admin:jobs_deadletter_changelist"))

    counts = {row["error_type"]: row["count"] for row in page.context["error_counts"]}
    assert counts == {"jobs.errors.PermanentError": 3, "requests.exceptions.ConnectTimeout": 1}


@pytest.mark.django_db
def test_the_error_figures_read_only_the_newest_dead_letters(user, staff_user, client, monkeypatch):
    from jobs import admin as job_admin

    monkeypatch.setattr(job_admin, "RECENT_DEAD_LETTERS", 2)
    old = failed_job(user)
    Job.objects.filter(id=old.id).update(error_type="old.Error")
    for _ in range(2):
        failed_job(user)
    client.force_login(staff_user)

    page = client.get(reverse("admin:jobs_deadletter_changelist"))

    assert {row["error_type"]: row["count"] for row in page.context["error_counts"]} == {"jobs.errors.PermanentError": 2}
    assert page.context["cl"].result_count == 3, "the list itself still shows every dead letter"
    filtered = client.get(reverse("admin:jobs_deadletter_changelist") + "?error_type=old.Error")
    assert filtered.context["cl"].result_count == 1


@pytest.mark.django_db
def test_the_admin_lists_count_up_to_the_cap_and_filter_types_from_the_registry(user, staff_user, client, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from common.pagination import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    for _ in range(5):
        failed_job(user)
    client.force_login(staff_user)

    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("admin:jobs_job_changelist"))
    assert page.status_code == 200
    assert page.context["cl"].result_count == 3
    choices = [choice["display"] for spec in page.context["cl"].filter_specs if spec.title == "type" for choice in spec.choices(page.context["cl"])]
    assert {"All", "diagnostics.sleep", "reports.generate"} <= set(choices)
    assert not [q for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()], "no filter lists distinct values of the job table"
    assert client.get(reverse("admin:jobs_deadletter_changelist") + "?type__exact=diagnostics.sleep").context["cl"].result_count == 3


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["admin:jobs_job_change", "admin:jobs_deadletter_change"])
def test_job_pages_are_view_only_so_save_cannot_overwrite_a_workers_update(user, staff_user, client, name):
    job = failed_job(user)
    client.force_login(staff_user)
    url = reverse(name, args=[job.id])
    assert 'name="_save"' not in client.get(url).content.decode()

    real_save = Job.save

    def save_racing_a_worker(self, *args, **kwargs):
        # A replay's attempt 2 starts between the admin reading the row and writing it back.
        Job.objects.filter(id=self.id).update(status=JobStatus.RUNNING, attempts=2)
        return real_save(self, *args, **kwargs)

    management = {f"{prefix}-{key}": "0" for prefix in ("attempt_rows", "webhook_deliveries")
                  for key in ("TOTAL_FORMS", "INITIAL_FORMS")}
    with mock.patch.object(Job, "save", save_racing_a_worker):
        assert client.post(url, {**management, "_save": "Save"}).status_code == 403
    assert Job.objects.get(id=job.id).status == JobStatus.FAILED  # untouched: no save ran


ADMIN_PAGES = [
    ("admin:jobs_job_changelist", False),
    ("admin:jobs_job_change", True),
    ("admin:jobs_deadletter_changelist", False),
    ("admin:jobs_deadletter_change", True),
    ("admin:jobs_deadletter_replay_with_input", True),
    ("admin:jobs_auditevent_changelist", False),
]


@pytest.mark.django_db
@pytest.mark.parametrize("name, with_id", ADMIN_PAGES)
def test_admin_pages_render_for_staff_and_refuse_others(user, staff_user, client, name, with_id):
    job = failed_job(user)
    url = reverse(name, args=[job.id] if with_id else [])

    client.force_login(user)
    refused = client.get(url)
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]

    client.force_login(staff_user)
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_the_admin_search_finds_by_job_id_username_or_email_through_indexes(user, other_user, staff_user, client):
    from django.test.utils import CaptureQueriesContext

    mine, theirs = failed_job(user), failed_job(other_user)
    other_user.email = "bob@example.org"
    other_user.save()
    client.force_login(staff_user)

    def found(term):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse("admin:jobs_job_changelist"), {"q": term})
        listed = [job.id for job in page.context["cl"].result_list]
        return listed, " ".join(q["sql"].upper() for q in queries.captured_queries)

    assert found(mine.id)[0] == [mine.id]
    assert found(mine.id.lower())[0] == [mine.id], "ids are upper case; a pasted lower-case one still finds it"
    assert found(user.username)[0] == [mine.id]
    assert found("example.org")[0] == [theirs.id]
    assert found("nobody-matches")[0] == []
    listed, sql = found(mine.id)
    # Django's "=id" search is iexact: UPPER(id) on PostgreSQL, LIKE on SQLite; neither uses the key.
    assert 'UPPER("JOBS_JOB"."ID"' not in sql and '"JOBS_JOB"."ID" LIKE' not in sql, "the id is matched through the primary key"


# The dead-letter count (/metrics, the dashboard, /api/queues/) is read from a tally the database's
# triggers keep (PostgreSQL); elsewhere it is a count.
on_postgresql = pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
                                   reason="the tally's triggers are PostgreSQL's")


def dead_letters_exactly() -> int:
    return Job.objects.filter(DEAD_LETTERS).count()


def running_job(user) -> Job:
    job = Job.objects.create(owner=user, type="diagnostics.sleep", input={"seconds": 0, "steps": 1})
    return running.job_claim(job.id, 1)


@on_postgresql
@pytest.mark.django_db
def test_the_dead_letter_count_follows_every_way_in_and_out(user, other_user, staff_user):
    assert dead_letter_count() == 0
    kept = failed_job(user)  # inserted failed
    for _ in range(3):
        job = running_job(user)
        assert running.job_fail(job.id, 1, job.claim_id, {"error_type": "E", "error_message": "m", "traceback": ""}, 1)
    completed = running_job(user)
    running.job_complete(completed.id, 1, completed.claim_id, {}, 1)  # not a dead letter
    assert dead_letter_count() == dead_letters_exactly() == 4

    discarded = failed_job(user)
    assert actions.job_discard(discarded, actor=staff_user)
    assert not actions.job_discard(discarded, actor=staff_user)  # a second discard changes nothing
    assert actions.job_replay(Job.objects.get(id=discarded.id), actor=staff_user)  # was not a dead letter
    assert actions.job_replay(kept, actor=staff_user)
    assert dead_letter_count() == dead_letters_exactly() == 3

    failed_job(other_user)
    Job.objects.filter(DEAD_LETTERS, owner=user).update(status=JobStatus.FAILED, error_message="edited")  # still dead letters
    other_user.delete()  # the user's jobs go with it
    assert dead_letter_count() == dead_letters_exactly() == 3

    from jobs.engine.transitions import CANCEL, move_jobs

    cancelled = Job.objects.create(owner=user, type="diagnostics.sleep", input={})
    move_jobs(CANCEL, Job.objects.filter(id=cancelled.id))
    assert actions.job_replay(Job.objects.get(id=cancelled.id), actor=staff_user)
    assert dead_letter_count() == dead_letters_exactly() == 3


@on_postgresql
@pytest.mark.django_db
def test_the_cleanup_leaves_the_dead_letter_count_as_it_was(user, staff_user):
    from schedules.services import jobs_cleanup

    old = timezone.now() - timedelta(days=40)
    failed_job(user, completed_at=old)
    actions.job_discard(failed_job(user, completed_at=old), actor=staff_user)
    Job.objects.create(owner=user, type="diagnostics.sleep", input={}, status=JobStatus.COMPLETED, completed_at=old)

    assert jobs_cleanup(retention_days=30)["removed_jobs"] == 2
    assert dead_letter_count() == dead_letters_exactly() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_readers_fold_the_tally_while_jobs_fail_beside_them(user, monkeypatch):
    monkeypatch.setattr(selectors, "TALLY_FOLD_AT", 20)

    def fail_jobs(n):
        for _ in range(n):
            failed_job(user)
        connection.close()

    def read(n):
        for _ in range(n):
            dead_letter_count()
        connection.close()

    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(fail_jobs, 150), pool.submit(fail_jobs, 150), pool.submit(read, 100), pool.submit(read, 100)]:
            done.result()

    assert dead_letter_count() == dead_letters_exactly() == 300
    assert DeadLetterTally.objects.count() <= 21  # folded


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_migration_seeds_the_tally_with_the_dead_letters_already_there(user):
    from django.db.migrations.executor import MigrationExecutor

    for _ in range(3):
        failed_job(user)
    executor = MigrationExecutor(connection)
    latest = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "jobs"]
    executor.migrate([("jobs", "0009_attempt_handed_back")])
    try:
        # No trigger: the tally is gone. Written with the model as it was at 0009.
        OldJob = executor.loader.project_state(("jobs", "0009_attempt_handed_back")).apps.get_model("jobs", "Job")
        OldJob.objects.create(owner_id=user.id, type="diagnostics.sleep", status=JobStatus.FAILED, attempts=1)
    finally:
        MigrationExecutor(connection).migrate(latest)

    assert dead_letter_count() == dead_letters_exactly() == 4
    failed_job(user)
    assert dead_letter_count() == 5
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Job._meta.db_table} CASCADE")  # fires no row trigger
    assert dead_letter_count() == dead_letters_exactly() == 0
