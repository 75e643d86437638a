"""Cleanup: old completed, cancelled and discarded jobs go with their files; dead letters and recent jobs stay."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs.models import Job, JobAttempt, JobStatus
from jobs.runner import job_run_attempt
from schedules.services import jobs_cleanup, schedule_fire


def finished_job(owner, status, days_ago, with_file=False, discarded=False):
    job = Job.objects.create(owner=owner, type="diagnostics.sleep", status=status)
    fields = {"completed_at": timezone.now() - timedelta(days=days_ago)}
    if discarded:
        fields["discarded_at"] = fields["completed_at"]
    if with_file:
        fields["result_file"] = default_storage.save(f"results/{job.id}/out.csv", ContentFile(b"a,b\n"))
    JobAttempt.objects.create(job=job, number=1, started_at=fields["completed_at"], outcome=status)
    Job.objects.filter(id=job.id).update(**fields)
    job.refresh_from_db()
    return job


@pytest.fixture
def old_and_new(user):
    return {
        "old_completed": finished_job(user, JobStatus.COMPLETED, 40, with_file=True),
        "old_cancelled": finished_job(user, JobStatus.CANCELLED, 31),
        "old_failed": finished_job(user, JobStatus.FAILED, 90, with_file=True),
        "old_discarded": finished_job(user, JobStatus.FAILED, 60, discarded=True),
        "new_completed": finished_job(user, JobStatus.COMPLETED, 29, with_file=True),
    }


@pytest.mark.django_db
def test_cleanup_removes_old_completed_jobs_and_files_and_keeps_failed_ones(old_and_new):
    result = jobs_cleanup(retention_days=30)

    remaining = set(Job.objects.values_list("id", flat=True))
    assert remaining == {old_and_new["old_failed"].id, old_and_new["new_completed"].id}
    assert result["removed_jobs"] == 3
    assert result["removed_by_status"] == {"cancelled": 1, "completed": 1, "failed": 1}, "discarded ones go"
    assert result["removed_files"] == 1 and result["kept_failed"] == 1
    assert not default_storage.exists(old_and_new["old_completed"].result_file.name)
    assert default_storage.exists(old_and_new["old_failed"].result_file.name)
    assert default_storage.exists(old_and_new["new_completed"].result_file.name)
    assert not JobAttempt.objects.filter(job_id=old_and_new["old_completed"].id).exists()


@pytest.mark.django_db
def test_the_cleanup_job_reports_what_it_removed(old_and_new, settings):
    settings.JOBS_RETENTION_DAYS = 35
    job = schedule_fire(schedule="jobs.cleanup", job_type="jobs.cleanup", fired_at=timezone.now())

    assert job_run_attempt(job.id, 1) == "completed"

    job.refresh_from_db()
    assert job.output["removed_jobs"] == 2 and job.output["retention_days"] == 35
    assert job.progress_message == "removed 2 jobs"
    assert not Job.objects.filter(id=old_and_new["old_completed"].id).exists()
    assert Job.objects.filter(id=old_and_new["old_cancelled"].id).exists(), "31 days is within 35"


@pytest.mark.django_db
def test_the_cleanup_rests_after_each_batch_in_proportion_to_the_batch(user, settings):
    for days in (40, 41, 42, 43, 44):
        finished_job(user, JobStatus.COMPLETED, days)
    rests = []
    slept = lambda seconds: rests.append(seconds)  # noqa: E731

    settings.JOBS_CLEANUP_REST = 2.0
    result = jobs_cleanup(retention_days=30, batch=2, sleep=slept)

    assert result["removed_jobs"] == 5
    assert len(rests) == 3, "one rest after each batch that removed jobs (2, 2, 1), none after the empty read"
    assert all(0 < seconds < 5 for seconds in rests)

    finished_job(user, JobStatus.COMPLETED, 40)
    rests.clear()
    assert jobs_cleanup(retention_days=30, batch=2, rest=0, sleep=slept)["removed_jobs"] == 1
    assert rests == [], "rest=0 never sleeps"
