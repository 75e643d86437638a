"""Report job types: on-demand reports, and the scheduled reports mailed to staff."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from jobs.authorization import Submitters, sees_all_jobs
from jobs.context import JobContext
from jobs.registry import JobInput, RetryPolicy, job_type

from .services import render_csv, render_pdf, report_email_staff, report_rows, report_top_errors

MAX_REPORT_DAYS = 366
MIMETYPES = {"csv": "text/csv", "pdf": "application/pdf"}
ReportFormat = Literal["csv", "pdf"]


class GenerateReportInput(JobInput):
    start_date: date = Field(description="First day of the report (UTC), YYYY-MM-DD.")
    end_date: date = Field(description="Last day of the report (UTC), inclusive.")
    format: ReportFormat = Field("csv", description="Output format.")

    @field_validator("end_date")
    @classmethod
    def check_range(cls, end_date: date, info: ValidationInfo) -> date:
        start_date = info.data.get("start_date")
        if start_date is None:
            return end_date
        if end_date < start_date:
            raise ValueError("end_date must not be before start_date.")
        if (end_date - start_date).days >= MAX_REPORT_DAYS:
            raise ValueError(f"A report covers at most {MAX_REPORT_DAYS} days.")
        return end_date


@dataclass(frozen=True)
class BuiltReport:
    output: dict
    filename: str
    content: bytes | str


def build_report(ctx: JobContext, start: date, end: date, fmt: str, title: str) -> BuiltReport:
    """Query, aggregate, render and store a report, moving the job's progress through each phase."""
    ctx.progress(5, "querying job history")
    # The reports of those who see every user's jobs cover them all; anyone else's cover their own.
    owner = None if sees_all_jobs(ctx.owner) else ctx.owner
    rows = report_rows(start, end, owner=owner)
    ctx.progress(40, f"aggregated {len(rows)} rows")
    errors = report_top_errors(start, end, owner=owner) if fmt == "pdf" else []
    ctx.progress(50, f"rendering {fmt}")
    content = render_pdf(title, start, end, rows, errors) if fmt == "pdf" else render_csv(rows)
    ctx.progress(80, "saving file")
    filename = f"report-{start}-{end}.{fmt}"
    stored = ctx.save_artifact(filename, content)
    output = {
        "format": fmt,
        "start_date": start,
        "end_date": end,
        "rows": len(rows),
        "jobs": sum(row.total for row in rows),
        "file": stored,
    }
    return BuiltReport(output=output, filename=filename, content=content)


@job_type("reports.generate", input=GenerateReportInput, submitters=Submitters.ANYONE,
          retry=RetryPolicy(max_attempts=5, base=2.0, cap=60.0))
def generate_report(ctx: JobContext, data: GenerateReportInput) -> dict:
    """Job history over a date range: jobs per day by type and status, failure rate, p50/p95 duration
    (and in PDF the ten most frequent errors)."""
    report = build_report(ctx, data.start_date, data.end_date, data.format, "Job report")
    ctx.progress(100, "done")
    return report.output


class ScheduledReportInput(JobInput):
    period: Literal["day", "week"] = Field(
        "day", description="day: the last full UTC day before the firing; week: the 7 days before it."
    )
    format: ReportFormat = Field("pdf", description="Output format.")
    email_staff: bool = Field(True, description="Mail the report, file attached, to every staff user with an email.")


PERIOD_DAYS = {"day": 1, "week": 7}
PERIOD_TITLES = {"day": "Daily operations report", "week": "Weekly operations report"}


# System-only: it mails every operator the figures of every user's jobs.
@job_type("reports.scheduled", input=ScheduledReportInput, submitters=Submitters.SYSTEM,
          retry=RetryPolicy(max_attempts=5, base=2.0, cap=60.0))
def scheduled_report(ctx: JobContext, data: ScheduledReportInput) -> dict:
    """The report of the period before the job's firing, mailed to staff. A schedule sets run_at to
    the firing's time, so a late or retried job still reports the period it was fired for."""
    fired_at = ctx.job.run_at or ctx.job.created_at
    end = fired_at.date() - timedelta(days=1)
    start = end - timedelta(days=PERIOD_DAYS[data.period] - 1)
    title = PERIOD_TITLES[data.period]
    report = build_report(ctx, start, end, data.format, title)
    recipients: list[str] = []
    if data.email_staff:
        ctx.progress(90, "mailing staff")
        period = f"{start}" if start == end else f"{start} to {end}"
        recipients = report_email_staff(
            subject=f"{title}: {period}",
            body=f"{title} for {period} (UTC): {report.output['jobs']} jobs. The report is attached.",
            filename=report.filename,
            content=report.content,
            mimetype=MIMETYPES[data.format],
        )
    ctx.progress(100, "done")
    return {**report.output, "period": data.period, "emailed_to": recipients}
