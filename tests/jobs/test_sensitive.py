"""Sensitive input fields: unreadable at rest, masked in the API, events, webhooks and the admin,
and handed in clear to the handler by the worker."""
from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from jobs import sensitive
from jobs.events import job_payload
from jobs.models import AuditEvent, Job, JobStatus
from jobs.registry import get_job_type
from jobs.runner import job_run_attempt

from ..conftest import wait_for_job

SECRET = "sk_live_do-not-leak-4242"


def stored_input(job_id: str) -> str:
    """The input column as the database holds it, bypassing the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT input FROM jobs_job WHERE id = %s", [job_id])
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else json.dumps(value)


@pytest.mark.worker
def test_a_sensitive_field_is_encrypted_masked_and_reaches_the_handler(worker, api, client, staff_user):
    response = api.post("/api/jobs/", {"type": "diagnostics.secret", "input": {"api_key": SECRET, "label": "demo"}}, format="json")
    assert response.status_code == 202
    job_id = response.json()["id"]

    row = stored_input(job_id)
    assert SECRET not in row and sensitive.ENCRYPTED in row and "demo" in row

    job = wait_for_job(job_id)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.output["api_key_sha256"] == hashlib.sha256(SECRET.encode()).hexdigest()

    detail = api.get(f"/api/jobs/{job_id}").json()
    listed = api.get("/api/jobs/").json()["results"][0]
    assert detail["input"] == {"api_key": "***", "label": "demo"} == listed["input"]
    assert job_payload(job)["input"]["api_key"] == "***"  # live events and webhooks use this payload
    client.force_login(staff_user)
    page = client.get(f"/admin/jobs/job/{job_id}/change/").content.decode()
    assert SECRET not in page and "***" in page and sensitive.ENCRYPTED not in page


def test_mask_decrypt_and_key_rotation(settings):
    model = get_job_type("diagnostics.secret").input_model
    assert sensitive.sensitive_fields(model) == {"api_key"}
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.JOBS_ENCRYPTION_KEYS = [old]
    stored = sensitive.input_encrypt(model, {"api_key": SECRET, "label": "x"})

    assert sensitive.input_mask(stored) == {"api_key": "***", "label": "x"}
    settings.JOBS_ENCRYPTION_KEYS = [new, old]  # rotation: the new key first, the old one still decrypts
    assert sensitive.input_decrypt(stored)["api_key"] == SECRET
    rotated, changed = sensitive.input_reencrypt(stored)
    settings.JOBS_ENCRYPTION_KEYS = [new]
    assert changed and sensitive.input_decrypt(rotated)["api_key"] == SECRET
    with pytest.raises(sensitive.PermanentError):
        sensitive.input_decrypt(stored)


def test_keys_are_required_in_production_and_derived_in_development(settings):
    settings.JOBS_ENCRYPTION_KEYS = []
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured):
        sensitive.keys_check([get_job_type("diagnostics.secret")])
    settings.DEBUG = True
    token = sensitive.cipher().encrypt(b"x")
    assert Fernet(sensitive.development_key(settings.SECRET_KEY)).decrypt(token) == b"x"


@pytest.mark.django_db
def test_reencrypt_command_rotates_stored_input_and_is_audited(settings, user):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.JOBS_ENCRYPTION_KEYS = [old]
    job = Job.objects.create(owner=user, type="diagnostics.secret", max_attempts=1,
                             input=sensitive.input_encrypt(get_job_type("diagnostics.secret").input_model, {"api_key": SECRET}))
    settings.JOBS_ENCRYPTION_KEYS = [new, old]
    call_command("jobs_reencrypt")
    settings.JOBS_ENCRYPTION_KEYS = [new]

    assert job_run_attempt(job.id, 1) == "completed"
    assert AuditEvent.objects.filter(action="jobs.reencrypt", details__jobs=1).exists()


@pytest.mark.django_db
def test_replay_with_edited_input_shows_sensitive_fields_masked_and_asks_for_them_again(client, staff_user, user):
    stored = sensitive.input_encrypt(get_job_type("diagnostics.secret").input_model, {"api_key": SECRET, "label": "a"})
    job = Job.objects.create(owner=user, type="diagnostics.secret", input=stored, status=JobStatus.FAILED, attempts=1,
                             max_attempts=1)
    client.force_login(staff_user)
    url = f"/admin/jobs/deadletter/{job.id}/replay-with-input/"

    form = client.get(url).content.decode()
    refused = client.post(url, {"input": json.dumps({"api_key": "***", "label": "b"})})
    replayed = client.post(url, {"input": json.dumps({"api_key": "new-key", "label": "b"})})

    assert SECRET not in form and "***" in form
    assert refused.status_code == 200 and "Sensitive fields are masked" in refused.content.decode()
    assert replayed.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and "new-key" not in json.dumps(job.input)
    assert sensitive.input_decrypt(job.input) == {"api_key": "new-key", "label": "b"}
