from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

from jobs.models import Job, JobStatus
from common.stats import percentile
from reports.services import report_rows

from ..conftest import make_operator, wait_for_job


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc)


def history_job(owner, day, type_name, status, seconds=None):
    job = Job.objects.create(owner=owner, type=type_name, status=status)
    created = at(day)
    fields = {"created_at": created}
    if seconds is not None:
        fields |= {"started_at": created, "completed_at": created + timedelta(seconds=seconds)}
    Job.objects.filter(id=job.id).update(**fields)
    return job


@pytest.fixture
def history(user, other_user):
    for seconds in (1, 2, 3):
        history_job(user, "2026-01-10", "diagnostics.sleep", JobStatus.COMPLETED, seconds)
    history_job(user, "2026-01-10", "diagnostics.sleep", JobStatus.FAILED, 4)
    history_job(user, "2026-01-11", "reports.generate", JobStatus.COMPLETED, 10)
    history_job(user, "2026-01-11", "reports.generate", JobStatus.CANCELLED)
    history_job(user, "2026-01-12", "diagnostics.sleep", JobStatus.COMPLETED, 1)  # outside the range
    history_job(other_user, "2026-01-10", "diagnostics.sleep", JobStatus.FAILED, 1)  # someone else's


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0
    assert percentile([7.0], 0.95) == 7.0


@pytest.mark.django_db
def test_rows_group_by_day_and_type_and_respect_the_owner(history, user):
    rows = report_rows(date(2026, 1, 10), date(2026, 1, 11), owner=user)

    assert [(row.day.isoformat(), row.type, row.total) for row in rows] == [
        ("2026-01-10", "diagnostics.sleep", 4),
        ("2026-01-11", "reports.generate", 2),
    ]
    assert rows[0].failure_rate == 0.25
    assert rows[0].duration_percentile(0.5) == 2.0
    assert sum(row.total for row in report_rows(date(2026, 1, 10), date(2026, 1, 11))) == 7, "no owner: everyone's"


@pytest.mark.worker
def test_report_job_end_to_end_produces_a_downloadable_csv(worker, api, history):
    response = api.post(
        "/api/reports/generate", {"start_date": "2026-01-10", "end_date": "2026-01-11", "format": "csv"}, format="json"
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]

    wait_for_job(job_id)
    job = api.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    assert job["output"]["rows"] == 2 and job["output"]["jobs"] == 6
    assert job["result_url"].endswith(f"/api/jobs/{job_id}/result")

    download = api.get(job["result_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert "report-2026-01-10-2026-01-11.csv" in download["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [(r["date"], r["type"], r["total"], r["completed"], r["failed"], r["cancelled"]) for r in rows] == [
        ("2026-01-10", "diagnostics.sleep", "4", "3", "1", "0"),
        ("2026-01-11", "reports.generate", "2", "1", "0", "1"),
    ]
    assert rows[0]["failure_rate"] == "0.2500"
    assert (rows[0]["p50_seconds"], rows[0]["p95_seconds"]) == ("2.000", "4.000")
    assert (rows[1]["p50_seconds"], rows[1]["p95_seconds"]) == ("10.000", "10.000")


@pytest.mark.django_db
def test_result_of_a_job_without_a_file_is_404(api, user):
    job = Job.objects.create(owner=user, type="diagnostics.sleep", status=JobStatus.COMPLETED)
    assert api.get(f"/api/jobs/{job.id}/result").status_code == 404


def pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    assert content.startswith(b"%PDF-")
    # Table cells come out one per line: fold all whitespace so that a row reads as one line.
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).split())


def fail_with(owner, day, error_type, times):
    for _ in range(times):
        job = history_job(owner, day, "diagnostics.sleep", JobStatus.FAILED, 4)
        Job.objects.filter(id=job.id).update(error_type=error_type)


@pytest.mark.worker
def test_pdf_report_holds_the_figures_from_the_database(worker, api, user, history):
    fail_with(user, "2026-01-11", "jobs.errors.PermanentError", 2)
    fail_with(user, "2026-01-11", "builtins.ValueError", 1)

    response = api.post(
        "/api/reports/generate", {"start_date": "2026-01-10", "end_date": "2026-01-11", "format": "pdf"}, format="json"
    )
    job = wait_for_job(response.json()["id"])

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.output["format"] == "pdf" and job.output["jobs"] == 9
    download = api.get(f"/api/jobs/{job.id}/result")
    assert "report-2026-01-10-2026-01-11.pdf" in download["Content-Disposition"]
    text = pdf_text(b"".join(download.streaming_content))
    assert "Job report" in text and "2026-01-10 to 2026-01-11" in text
    # Summary: 9 jobs, 4 completed and 4 failed of 8 finished, durations 1 2 3 4 10 4 4 4.
    assert "50.0%" in text and "4.000 s" in text and "10.000 s" in text
    assert "2026-01-10 diagnostics.sleep 4" in text and "25.0%" in text
    assert "jobs.errors.PermanentError 2" in text and "builtins.ValueError 1" in text
    assert text.index("PermanentError") < text.index("ValueError"), "most frequent first"


@pytest.mark.worker
def test_scheduled_daily_report_covers_the_day_before_its_firing_and_mails_staff(worker, history, settings):
    from django.contrib.auth import get_user_model
    from email import message_from_bytes
    from pathlib import Path

    from schedules.services import schedule_fire

    make_operator("boss", "Job viewers", email="boss@example.com")
    make_operator("intern", None, email="intern@example.com")  # staff who may not view every job: not mailed
    get_user_model().objects.create_user("clerk", email="clerk@example.com")  # not staff: not mailed
    mail_dir = Path(settings.EMAIL_FILE_PATH)
    before = set(mail_dir.glob("*.log"))

    fired = schedule_fire(
        schedule="reports.daily", job_type="reports.scheduled",
        input={"period": "day", "format": "pdf", "email_staff": True},
        fired_at=datetime(2026, 1, 11, 0, 0, tzinfo=timezone.utc),  # 09:00 in Tokyo
    )
    job = wait_for_job(fired.id)

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert (job.output["start_date"], job.output["end_date"]) == ("2026-01-10", "2026-01-10")
    assert job.output["jobs"] == 5, "the system user's report covers everyone's jobs"
    assert job.output["emailed_to"] == ["boss@example.com"]
    [mail_file] = set(mail_dir.glob("*.log")) - before
    message = message_from_bytes(mail_file.read_bytes().split(b"\n" + b"-" * 79)[0])
    assert message["To"] == "boss@example.com"
    assert message["Subject"] == "Daily operations report: 2026-01-10"
    [attachment] = [part for part in message.walk() if part.get_filename()]
    assert attachment.get_filename() == "report-2026-01-10-2026-01-10.pdf"
    assert "Daily operations report" in pdf_text(attachment.get_payload(decode=True))
