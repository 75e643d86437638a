"""Who may submit what, and what an operator may do: every system-only type, the high-priority
grant, the run-time re-check, and every admin view, action and staff endpoint as permission-less
staff, viewer and operator."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from jobs.engine import dispatch, submission
from jobs.authorization import SUBMIT_HIGH_PRIORITY, submit_permission
from jobs.models import AuditEvent, Job, JobStatus
from notifications.models import WebhookDelivery, WebhookSecret
from notifications.webhooks import webhook_secret_get

from ..conftest import token_client, wait_for_job
from .test_dead_letters import failed_job

SYSTEM_ONLY = {
    "jobs.cleanup": {"retention_days": 1},
    "reports.scheduled": {"period": "day", "format": "csv", "email_staff": True},
    "notifications.send_email_batch": {"user_ids": [1], "template": "welcome", "dedupe_key": "x"},
}
SLEEP = {"type": "diagnostics.sleep", "input": {"seconds": 0}}


def grant(user, permission: str):
    app_label, codename = permission.split(".")
    user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return type(user).objects.get(pk=user.pk)  # a fresh object: has_perm caches what it read


# --- submission ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("type_name", sorted(SYSTEM_ONLY))
@pytest.mark.parametrize("who", ["user", "bare_staff", "operator", "staff_user"])
def test_system_only_types_cannot_be_submitted_by_anyone(request, type_name, who):
    submitter = request.getfixturevalue(who)

    answer = token_client(submitter).post("/api/jobs/", {"type": type_name, "input": SYSTEM_ONLY[type_name]},
                                          format="json", REMOTE_ADDR="10.0.0.8")

    assert answer.status_code == 403, answer.content
    assert "cannot be submitted" in answer.json()["detail"]
    assert not Job.objects.exists()
    refusal = AuditEvent.objects.get(action="job.submit_refused")
    assert (refusal.actor, refusal.target, refusal.client_address) == (submitter, type_name, "10.0.0.8")


@pytest.mark.django_db
def test_a_user_cannot_clean_up_another_users_history(api, other_user):
    """The review's reproduction: cleanup with a one-day retention, as a normal user."""
    old = timezone.now() - timedelta(days=5)
    theirs = [Job.objects.create(owner=other_user, type="diagnostics.sleep", status=JobStatus.COMPLETED,
                                 completed_at=old) for _ in range(4)]

    answer = api.post("/api/jobs/", {"type": "jobs.cleanup", "input": {"retention_days": 1}}, format="json")

    assert answer.status_code == 403
    assert Job.objects.filter(id__in=[job.id for job in theirs]).count() == 4


@pytest.mark.django_db
def test_a_permission_type_needs_its_permission(user):
    body = {"type": "notifications.broadcast", "input": {"user_ids": [user.pk], "template": "welcome"}}

    refused = token_client(user).post("/api/jobs/", body, format="json")
    user = grant(user, submit_permission("notifications.broadcast"))
    accepted = token_client(user).post("/api/jobs/", body, format="json")

    assert refused.status_code == 403 and "jobs.submit_notifications_broadcast" in refused.json()["detail"]
    assert accepted.status_code == 202
    assert Job.objects.filter(type="notifications.broadcast").count() == 1


@pytest.mark.django_db
def test_high_priority_is_a_grant(user):
    refused = token_client(user).post("/api/jobs/", {**SLEEP, "priority": "high"}, format="json")
    normal = token_client(user).post("/api/jobs/", {**SLEEP, "priority": "low"}, format="json")
    user = grant(user, SUBMIT_HIGH_PRIORITY)
    accepted = token_client(user).post("/api/jobs/", {**SLEEP, "priority": "high"}, format="json")

    assert refused.status_code == 403 and SUBMIT_HIGH_PRIORITY in refused.json()["detail"]
    assert normal.status_code == 202 and accepted.status_code == 202
    assert list(Job.objects.values_list("priority", flat=True).order_by("id")) == ["low", "high"]


@pytest.mark.django_db
def test_a_refused_idempotent_submission_is_audited_and_creates_nothing(api, user):
    answer = api.post("/api/jobs/", {"type": "jobs.cleanup", "input": {}}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert answer.status_code == 403 and not Job.objects.exists()
    assert AuditEvent.objects.filter(action="job.submit_refused", actor=user).count() == 1


@pytest.mark.django_db
def test_job_types_lists_only_what_the_caller_may_submit(user):
    listed = {t["name"] for t in token_client(user).get("/api/job-types/").json()}
    user = grant(user, submit_permission("notifications.broadcast"))
    granted = {t["name"] for t in token_client(user).get("/api/job-types/").json()}

    assert "diagnostics.sleep" in listed and "reports.generate" in listed
    assert not listed & (set(SYSTEM_ONLY) | {"notifications.broadcast"})
    assert granted - listed == {"notifications.broadcast"}


@pytest.mark.django_db
@pytest.mark.parametrize("value", [True, False, "5", None, [1]])
def test_delay_seconds_must_be_a_number(api, value):
    answer = api.post("/api/jobs/", {**SLEEP, "delay_seconds": value}, format="json")
    assert answer.status_code == 400 and "delay_seconds" in answer.json()
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_schedules_system_account_may_submit_system_types():
    from schedules.services import schedule_fire

    job = schedule_fire(schedule="nightly", job_type="jobs.cleanup", input={}, fired_at=timezone.now())
    assert job is not None and job.owner.username == "system"


# --- the worker checks again --------------------------------------------------------------------


@pytest.mark.worker
def test_a_job_whose_owner_lost_the_permission_fails_without_running(worker, user):
    user = grant(user, submit_permission("notifications.broadcast"))
    job = submission.job_enqueue(owner=user, type_name="notifications.broadcast",
                               input={"user_ids": [user.pk], "template": "welcome"},
                               run_at=timezone.now() + timedelta(hours=1))
    user.user_permissions.clear()
    Job.objects.filter(id=job.id).update(run_at=timezone.now())
    dispatch.jobs_dispatch_due()

    job = wait_for_job(job.id)

    assert job.status == JobStatus.FAILED and job.error_type == "PermissionError"
    assert "jobs.submit_notifications_broadcast" in job.error_message
    assert not Job.objects.filter(parent=job).exists(), "the handler must not have run"


@pytest.mark.worker
def test_a_system_type_slipped_in_for_a_user_fails_without_running(worker, user, other_user):
    """Even a row written past the API (a bug, a shell) does not run a system type as a user."""
    old = timezone.now() - timedelta(days=5)
    theirs = Job.objects.create(owner=other_user, type="diagnostics.sleep", status=JobStatus.COMPLETED, completed_at=old)
    job = Job.objects.create(owner=user, type="jobs.cleanup", input={"retention_days": 1}, max_attempts=3)
    dispatch.job_publish(job.id, 1, job.priority)

    job = wait_for_job(job.id)

    assert job.status == JobStatus.FAILED and job.error_type == "PermissionError"
    assert Job.objects.filter(id=theirs.id).exists()


# --- the API for operators ----------------------------------------------------------------------


@pytest.mark.django_db
def test_other_users_jobs_need_the_view_permission(user, bare_staff, viewer):
    job = Job.objects.create(owner=user, type="diagnostics.sleep")

    assert token_client(bare_staff).get(f"/api/jobs/{job.id}").status_code == 404
    assert token_client(bare_staff).get("/api/jobs/").json()["count"] == 0
    assert token_client(viewer).get(f"/api/jobs/{job.id}").status_code == 200


@pytest.mark.django_db
def test_cancelling_another_users_job_needs_the_cancel_permission(user, viewer, operator):
    job = Job.objects.create(owner=user, type="diagnostics.sleep", status=JobStatus.SCHEDULED)

    refused = token_client(viewer).post(f"/api/jobs/{job.id}/cancel")
    assert refused.status_code == 403 and Job.objects.get(id=job.id).status == JobStatus.SCHEDULED
    assert token_client(operator).post(f"/api/jobs/{job.id}/cancel").status_code == 200
    assert Job.objects.get(id=job.id).status == JobStatus.CANCELLED


@pytest.mark.django_db
@pytest.mark.parametrize("who, allowed", [("user", False), ("bare_staff", False), ("viewer", True), ("operator", True)])
def test_queue_figures_need_the_metrics_permission(request, who, allowed):
    answer = token_client(request.getfixturevalue(who)).get("/api/queues/")
    assert answer.status_code == (200 if allowed else 403)


# --- the console ----------------------------------------------------------------------------------

ROLES = ["bare_staff", "viewer", "operator"]


@pytest.fixture
def console(request, client):
    """A logged-in admin client for the role named by the test's `role` parameter."""
    user = request.getfixturevalue(request.node.callspec.params["role"])
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_groups_exist_after_migrate():
    viewers = set(Group.objects.get(name="Job viewers").permissions.values_list("codename", flat=True))
    operators = set(Group.objects.get(name="Job operators").permissions.values_list("codename", flat=True))

    assert {"view_job", "view_metrics", "view_auditevent"} <= viewers
    assert not {"replay_job", "cancel_job", "discard_job", "replay_edited_job"} & viewers
    assert viewers < operators
    assert {"replay_job", "replay_edited_job", "cancel_job", "discard_job", "redeliver_webhookdelivery",
            "rotate_webhooksecret", "change_periodictask"} <= operators


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", [
    "/admin/jobs/job/", "/admin/jobs/deadletter/", "/admin/jobs/auditevent/", "/admin/ops/alert/",
    "/admin/ops/alert/dashboard/", "/admin/ops/alert/dashboard/data/", "/admin/notifications/webhookdelivery/",
    "/admin/django_celery_beat/periodictask/", "/metrics",
])
def test_reading_the_console_needs_a_viewer(console, role, page, user):
    answer = console.get(page)
    if role == "bare_staff":
        assert answer.status_code in (401, 403), (page, answer.status_code)
    else:
        assert answer.status_code == 200, (page, answer.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_a_job_page_shows_only_the_tools_the_operator_may_use(console, role, user):
    job = failed_job(user)
    page = console.get(reverse("admin:jobs_deadletter_change", args=[job.id]))
    if role == "bare_staff":
        assert page.status_code == 403
        return
    html = page.content.decode()
    assert page.status_code == 200
    assert ('>Replay now</button>' in html) is (role == "operator")
    assert ('>Discard</button>' in html) is (role == "operator")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("view", ["replay", "discard", "replay_with_input"])
def test_dead_letter_tools_need_their_permission(console, role, view, user):
    job = failed_job(user)
    url = reverse(f"admin:jobs_deadletter_{view}", args=[job.id])
    data = {"input": '{"seconds": 0}'} if view == "replay_with_input" else {}

    answer = console.post(url, data)

    job.refresh_from_db()
    if role == "operator":
        assert answer.status_code == 302
        assert job.status == JobStatus.PENDING if view != "discard" else job.discarded_at is not None
    else:
        assert answer.status_code == 403
        assert job.status == JobStatus.FAILED and job.discarded_at is None
        assert not AuditEvent.objects.filter(action__startswith="job.").exists()


def run_action(client, changelist: str, action: str, ids: list) -> None:
    client.post(changelist, {"action": action, "_selected_action": [str(pk) for pk in ids]})


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("changelist, action", [
    ("/admin/jobs/job/", "replay_selected"),
    ("/admin/jobs/deadletter/", "replay_selected"),
    ("/admin/jobs/deadletter/", "discard_selected"),
])
def test_dead_letter_actions_need_their_permission(console, role, changelist, action, user):
    job = failed_job(user)

    run_action(console, changelist, action, [job.id])

    job.refresh_from_db()
    acted = job.status == JobStatus.PENDING or job.discarded_at is not None
    assert acted is (role == "operator")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_cancel_action_needs_the_cancel_permission(console, role, user):
    job = Job.objects.create(owner=user, type="diagnostics.sleep", status=JobStatus.SCHEDULED)

    run_action(console, "/admin/jobs/job/", "cancel_selected", [job.id])

    assert (Job.objects.get(id=job.id).status == JobStatus.CANCELLED) is (role == "operator")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_redeliver_needs_its_permission(console, role, user):
    job = Job.objects.create(owner=user, type="diagnostics.sleep", status=JobStatus.COMPLETED)
    delivery = WebhookDelivery.objects.create(job=job, event_type="job.completed", url="https://example.com/h",
                                              payload={}, status=WebhookDelivery.Status.FAILED, attempts=1,
                                              max_attempts=1)

    run_action(console, "/admin/notifications/webhookdelivery/", "redeliver", [delivery.pk])

    assert (WebhookDelivery.objects.get(pk=delivery.pk).status == "pending") is (role == "operator")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_rotating_a_users_secret_needs_its_permission(console, role, user):
    secret = webhook_secret_get(user.pk)

    page = console.get("/admin/notifications/webhooksecret/")
    run_action(console, "/admin/notifications/webhooksecret/", "rotate", [secret.pk])

    assert secret.clear not in page.content.decode() and secret.secret not in page.content.decode(), "the console never shows a secret"
    assert (WebhookSecret.objects.get(pk=secret.pk).secret != secret.secret) is (role == "operator")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_schedule_actions_need_the_change_permission(console, role):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=1, period="hours")
    task = PeriodicTask.objects.create(name="t", task="schedules.fire", interval=every, enabled=True,
                                       kwargs='{"job_type": "diagnostics.sleep", "input": {}}')

    run_action(console, "/admin/django_celery_beat/periodictask/", "disable_tasks", [task.pk])

    assert (PeriodicTask.objects.get(pk=task.pk).enabled is False) is (role == "operator")


@pytest.mark.django_db
def test_staff_without_permissions_sees_nothing_in_the_console(client, bare_staff):
    client.force_login(bare_staff)
    index = client.get("/admin/").content.decode()
    assert "have permission to view or edit anything" in index
    assert "Operations</a>" not in index
