"""Security: permission re-check at run time, throttles, CSRF, deployment checks, the audit trail."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

from common.cache import cache_redis
from jobs.engine import audit, dispatch, submission
from jobs.errors import ActionForbidden
from diagnostics.models import DiagnosticsEffect
from jobs.models import AuditEvent, Job, JobAttempt, JobStatus

from ..conftest import make_user, wait_for_job
from ..support import ROOT, free_port
from .test_dead_letters import failed_job

SLEEP = {"type": "diagnostics.sleep", "input": {"seconds": 0, "record_effect": True}}


@pytest.mark.worker
def test_an_inactive_owners_job_fails_on_the_worker_without_running_and_is_not_retried(worker):
    owner = make_user("leaver")
    job = submission.job_enqueue(owner=owner, type_name="diagnostics.sleep", input=SLEEP["input"],
                               run_at=timezone.now() + timedelta(hours=1))
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    Job.objects.filter(id=job.id).update(run_at=timezone.now())  # now due: the dispatcher publishes it
    dispatch.jobs_dispatch_due()

    job = wait_for_job(job.id)

    assert job.status == JobStatus.FAILED and job.error_type == "PermissionError"
    assert job.attempts == 1 and JobAttempt.objects.filter(job=job).count() == 1
    assert not DiagnosticsEffect.objects.filter(job=job).exists(), "the handler must not run"


def forget_submit_windows() -> None:
    """Every user's throttle window: user ids repeat across test databases, Redis outlives them."""
    client = cache_redis()
    for key in client.scan_iter(match=cache.make_key("throttle_jobs_submit_*")):
        client.delete(key)


@pytest.fixture
def limited(settings, user):
    settings.JOBS_SUBMIT_RATE = "2/min"
    forget_submit_windows()
    yield
    forget_submit_windows()


@pytest.mark.django_db
@pytest.mark.parametrize("path, body", [
    ("/api/jobs/", SLEEP),
    ("/api/reports/generate", {"start_date": "2026-01-01", "end_date": "2026-01-02"}),
])
def test_submitting_over_the_rate_answers_429_with_retry_after(limited, api, path, body):
    answers = [api.post(path, body, format="json") for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert api.get("/api/jobs/").status_code == 200, "reading is not throttled"


@pytest.mark.django_db
def test_the_throttle_counts_per_user(limited, api, other_api):
    for _ in range(2):
        api.post("/api/jobs/", SLEEP, format="json")
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 429
    assert other_api.post("/api/jobs/", SLEEP, format="json").status_code == 202


@pytest.mark.django_db
def test_the_throttle_window_slides(limited, api, settings):
    """A request counts for the window's length after it was made, then no more."""
    import time

    settings.JOBS_SUBMIT_RATE = "2/sec"
    assert [api.post("/api/jobs/", SLEEP, format="json").status_code for _ in range(3)] == [202, 202, 429]
    time.sleep(1.05)
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 202


@pytest.mark.django_db
def test_a_session_write_without_csrf_token_is_refused(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    refused = client.post("/api/jobs/", SLEEP, format="json")
    client.get("/dashboard/")  # sets the csrftoken cookie
    accepted = client.post("/api/jobs/", SLEEP, format="json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 202


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "JOBS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "jobs.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_audit_events_record_actor_action_target_time_and_address(api, user, staff_user, client):
    """Every audited operation, with who, what, which, when and from where."""
    job_id = api.post("/api/jobs/", {**SLEEP, "delay_seconds": 3600}, format="json", REMOTE_ADDR="10.0.0.1").json()["id"]
    api.post(f"/api/jobs/{job_id}/cancel", REMOTE_ADDR="10.0.0.2")
    api.post("/api/webhooks/secret/rotate", REMOTE_ADDR="10.0.0.3")
    client.force_login(staff_user)
    client.post(reverse("admin:jobs_deadletter_replay", args=[failed_job(user).id]), REMOTE_ADDR="10.0.0.4")
    client.post(reverse("admin:jobs_deadletter_discard", args=[failed_job(user).id]), REMOTE_ADDR="10.0.0.5")
    every = IntervalSchedule.objects.create(every=1, period="hours")
    add = client.post("/admin/django_celery_beat/periodictask/add/", {
        "name": "audit.hourly", "regtask": "schedules.fire", "task": "", "enabled": "on", "interval": every.pk,
        "args": "[]", "headers": "{}", "description": "", "kwargs": '{"job_type": "diagnostics.sleep", "input": {}}',
    }, REMOTE_ADDR="10.0.0.6")
    assert add.status_code == 302, add.content.decode()[:2000]
    task = PeriodicTask.objects.get(name="audit.hourly")
    client.post(f"/admin/django_celery_beat/periodictask/{task.pk}/delete/", {"post": "yes"}, REMOTE_ADDR="10.0.0.7")

    expected = [
        ("job.enqueue", user, job_id, "10.0.0.1"),
        ("job.cancel", user, job_id, "10.0.0.2"),
        ("webhook.secret_rotate", user, f"user:{user.pk}", "10.0.0.3"),
        ("job.replay", staff_user, None, "10.0.0.4"),
        ("job.discard", staff_user, None, "10.0.0.5"),
        ("schedule.create", staff_user, "schedule:audit.hourly", "10.0.0.6"),
        ("schedule.delete", staff_user, "schedule:audit.hourly", "10.0.0.7"),
    ]
    for action, actor, target, address in expected:
        event = AuditEvent.objects.get(action=action, client_address=address)
        assert event.actor == actor and event.created_at is not None and event.target
        assert target is None or event.target == target, (action, event.target)


@pytest.mark.django_db
def test_audit_events_are_read_only_in_the_admin(client, staff_user, user):
    event = audit.audit_record(actor=user, action="job.cancel", target="x", client_address="10.0.0.9")
    client.force_login(staff_user)

    page = client.get(f"/admin/jobs/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/jobs/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/jobs/auditevent/add/").status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_an_inactive_user_cannot_submit(user):
    user.is_active = False
    with pytest.raises(ActionForbidden):
        submission.job_enqueue(owner=user, type_name="diagnostics.sleep", input=SLEEP["input"])
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_throttle_fails_open_when_its_cache_is_down(api, settings):
    settings.JOBS_SUBMIT_RATE = "2/min"
    # A Redis that refuses connections: nothing listens on this port.
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}
    assert [api.post("/api/jobs/", SLEEP, format="json").status_code for _ in range(3)] == [202] * 3
