"""Text PostgreSQL cannot store (NUL, unpaired surrogates) is refused by the job type's input
validation, whichever way the input comes: the engine, the admin's edit-and-replay, a schedule."""
from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.engine import submission
from jobs.errors import InvalidJobInput
from jobs.models import Job, JobStatus

from .test_dead_letters import failed_job


@pytest.mark.django_db
@pytest.mark.parametrize("input", [
    {"label": "a\x00b", "api_key": "k"},
    {"label": "\ud800", "api_key": "k"},
    {"label\x00": "x", "api_key": "k"},
])
def test_the_engine_refuses_unstorable_input(user, input):
    with pytest.raises(InvalidJobInput) as refused:
        submission.job_enqueue(owner=user, type_name="diagnostics.secret", input=input)
    assert "NUL" in str(refused.value.errors) or "surrogate" in str(refused.value.errors)
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_edit_and_replay_refuses_a_nul_with_a_form_error(client, staff_user, user):
    job = failed_job(user)
    client.force_login(staff_user)

    page = client.post(reverse("admin:jobs_deadletter_replay_with_input", args=[job.id]),
                       {"input": '{"seconds": 0, "error": "transient\\u0000"}'})

    assert page.status_code == 200 and "NUL" in page.content.decode()
    assert Job.objects.get(id=job.id).status == JobStatus.FAILED


@pytest.mark.django_db
def test_a_schedule_with_a_nul_in_its_input_is_refused(client, staff_user):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    client.force_login(staff_user)
    every = IntervalSchedule.objects.create(every=1, period="hours")
    page = client.post("/admin/django_celery_beat/periodictask/add/", {
        "name": "nul", "regtask": "schedules.fire", "task": "", "enabled": "on", "interval": every.pk,
        "args": "[]", "headers": "{}", "description": "",
        "kwargs": '{"job_type": "diagnostics.sleep", "input": {"error": "\\u0000"}}',
    })

    assert page.status_code == 200 and "NUL" in page.content.decode()
    assert not PeriodicTask.objects.filter(name="nul").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["1e400", "NaN", "Infinity"])
def test_edit_and_replay_refuses_numbers_json_cannot_hold(client, staff_user, user, number):
    job = failed_job(user)
    client.force_login(staff_user)

    page = client.post(reverse("admin:jobs_deadletter_replay_with_input", args=[job.id]),
                       {"input": '{"seconds": %s}' % number})

    assert page.status_code == 200 and "Not valid JSON" in page.content.decode()
    assert Job.objects.get(id=job.id).status == JobStatus.FAILED
