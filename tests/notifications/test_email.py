"""The notifications.send_email job type: rendered from templates/email, sent once per dedupe key."""
from __future__ import annotations

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend

from jobs.models import Job, JobStatus
from jobs.runner import job_run_attempt
from notifications.models import SentEmail
from tests.conftest import wait_for_job

pytestmark = pytest.mark.django_db


class FailingOnceBackend(EmailBackend):
    """Refuses the first message of the test, like an SMTP server that is briefly down."""

    failed = False

    def send_messages(self, messages):
        if not FailingOnceBackend.failed:
            FailingOnceBackend.failed = True
            raise ConnectionRefusedError("smtp down")
        return super().send_messages(messages)


@pytest.fixture
def mailed_user(user):
    user.email = "alice@example.com"
    user.save()
    return user


def email_job(owner, user_id, dedupe_key="report-2026-11", **extra) -> Job:
    data = {"user_id": user_id, "template": "job_finished", "context": {"job_id": "J1", "status": "completed"}}
    if dedupe_key:
        data["dedupe_key"] = dedupe_key
    return Job.objects.create(owner=owner, type="notifications.send_email", input={**data, **extra}, max_attempts=5)


def test_a_duplicated_email_job_sends_once(mailed_user):
    first, duplicate = email_job(mailed_user, mailed_user.pk), email_job(mailed_user, mailed_user.pk)

    assert job_run_attempt(first.id, 1) == "completed"
    assert job_run_attempt(duplicate.id, 1) == "completed"

    [message] = mail.outbox
    assert message.to == ["alice@example.com"] and message.subject == "Your job J1 has completed"
    assert "Hello alice" in message.body
    record = SentEmail.objects.get()
    assert record.status == "sent" and record.job_id == first.id and record.sent_at
    assert Job.objects.get(id=duplicate.id).output == {"sent": False, "duplicate_of_job": first.id, "status": "sent"}


def test_without_a_dedupe_key_a_retried_attempt_does_not_send_again(mailed_user):
    job = email_job(mailed_user, mailed_user.pk, dedupe_key=None)
    job_run_attempt(job.id, 1)
    # A redelivered message for a later attempt of the same job (e.g. after a lost ack)
    Job.objects.filter(id=job.id).update(status=JobStatus.RETRYING)

    job_run_attempt(job.id, 2)

    assert len(mail.outbox) == 1 and SentEmail.objects.get().dedupe_key == job.id


def test_a_backend_error_releases_the_claim_so_the_retry_sends(mailed_user, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingOnceBackend"
    FailingOnceBackend.failed = False
    job = email_job(mailed_user, mailed_user.pk)

    assert job_run_attempt(job.id, 1) == "retrying"
    assert not SentEmail.objects.exists()
    assert job_run_attempt(job.id, 2) == "completed"

    assert len(mail.outbox) == 1 and SentEmail.objects.get().status == "sent"


def test_emailing_other_users_needs_a_permission_and_tells_no_one_who_exists(mailed_user, other_user):
    existing = email_job(other_user, mailed_user.pk)
    missing = email_job(other_user, 987654)

    assert job_run_attempt(existing.id, 1) == job_run_attempt(missing.id, 1) == "failed"
    errors = {(job.error_type, job.error_message) for job in Job.objects.filter(id__in=[existing.id, missing.id])}
    assert len(errors) == 1 and errors.pop()[0] == "PermissionError", "the same answer for both"
    assert mail.outbox == []


def test_unknown_templates_are_refused_at_submit(api, mailed_user):
    response = api.post(
        "/api/jobs/",
        {"type": "notifications.send_email", "input": {"user_id": mailed_user.pk, "template": "../secrets"}},
        format="json",
    )
    assert response.status_code == 400 and "template" in response.json()["input"]


@pytest.mark.worker
def test_duplicated_email_jobs_through_the_worker_send_once(worker, api, mailed_user):
    body = {
        "type": "notifications.send_email",
        "input": {"user_id": mailed_user.pk, "template": "welcome", "context": {"name": "Alice"}, "dedupe_key": "welcome"},
    }
    ids = [api.post("/api/jobs/", body, format="json").json()["id"] for _ in range(3)]

    outputs = [wait_for_job(job_id).output for job_id in ids]

    assert sorted(output["sent"] for output in outputs) == [False, False, True]
    record = SentEmail.objects.get()
    assert record.status == "sent" and record.subject == "Welcome, Alice" and record.job_id in ids


def test_a_missing_template_fails_the_job_at_once(mailed_user):
    job = email_job(mailed_user, mailed_user.pk, template="no_such_template")

    assert job_run_attempt(job.id, 1) == "failed"
    assert "no_such_template" in Job.objects.get(id=job.id).error_message
