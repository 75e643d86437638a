"""Report job types."""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from jobs.context import JobContext
from jobs.registry import JobInput, RetryPolicy, job_type

from .services import render_csv, report_rows

MAX_REPORT_DAYS = 366


class GenerateReportInput(JobInput):
    start_date: date = Field(description="First day of the report (UTC), YYYY-MM-DD.")
    end_date: date = Field(description="Last day of the report (UTC), inclusive.")
    format: Literal["csv"] = Field("csv", description="Output format.")

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


@job_type("reports.generate", input=GenerateReportInput, retry=RetryPolicy(max_attempts=5, base=2.0, cap=60.0))
def generate_report(ctx: JobContext, data: GenerateReportInput) -> dict:
    """Job history over a date range: jobs per day by type and status, failure rate, p50/p95 duration."""
    ctx.progress(5, "querying job history")
    # Staff reports cover every user's jobs; anyone else's cover their own.
    rows = report_rows(data.start_date, data.end_date, owner=None if ctx.owner.is_staff else ctx.owner)
    ctx.progress(60, f"aggregated {len(rows)} rows")
    content = render_csv(rows)
    ctx.progress(85, "saving file")
    stored = ctx.save_artifact(f"report-{data.start_date}-{data.end_date}.{data.format}", content)
    ctx.progress(100, "done")
    return {
        "format": data.format,
        "start_date": data.start_date,
        "end_date": data.end_date,
        "rows": len(rows),
        "jobs": sum(row.total for row in rows),
        "file": stored,
    }
