"""Report building: statistics of the job history over a date range, rendered as CSV or PDF."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import Count

from common.stats import percentile
from jobs.authorization import VIEW_JOBS, users_with_permission
from jobs.models import Job, JobStatus

STATUS_COLUMNS = [status.value for status in JobStatus]
CSV_HEADER = ["date", "type", "total", *STATUS_COLUMNS, "failure_rate", "p50_seconds", "p95_seconds"]


@dataclass
class ReportRow:
    day: date
    type: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_COLUMNS, 0))
    durations: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def failure_rate(self) -> float | None:
        """Failed share of the jobs that finished running (completed or failed)."""
        finished = self.counts[JobStatus.COMPLETED] + self.counts[JobStatus.FAILED]
        return self.counts[JobStatus.FAILED] / finished if finished else None

    def duration_percentile(self, fraction: float) -> float | None:
        return percentile(sorted(self.durations), fraction)


def _report_jobs(start: date, end: date, owner=None):
    """Jobs created from `start` to `end` inclusive (UTC days). `owner` limits the report to one
    user's jobs; None covers everyone's (staff reports)."""
    jobs = Job.objects.filter(created_at__date__gte=start, created_at__date__lte=end)
    return jobs if owner is None else jobs.filter(owner=owner)


def report_rows(start: date, end: date, owner=None) -> list[ReportRow]:
    """One row per (day, job type) of the jobs `_report_jobs` selects."""
    jobs = _report_jobs(start, end, owner)
    rows: dict[tuple[date, str], ReportRow] = {}
    fields = ("type", "status", "created_at", "started_at", "completed_at")
    for type_name, status, created, started, completed in jobs.values_list(*fields).iterator(chunk_size=2000):
        key = (created.date(), type_name)
        row = rows.get(key) or rows.setdefault(key, ReportRow(day=key[0], type=type_name))
        row.counts[status] += 1
        if status in (JobStatus.COMPLETED, JobStatus.FAILED) and started and completed:
            row.durations.append((completed - started).total_seconds())
    return [rows[key] for key in sorted(rows)]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_csv(rows: list[ReportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(
            [
                row.day.isoformat(),
                row.type,
                row.total,
                *(row.counts[status] for status in STATUS_COLUMNS),
                _fmt(row.failure_rate, 4),
                _fmt(row.duration_percentile(0.50)),
                _fmt(row.duration_percentile(0.95)),
            ]
        )
    return out.getvalue()


def report_top_errors(start: date, end: date, owner=None, limit: int = 10) -> list[tuple[str, int]]:
    """The `limit` most frequent error types of failed jobs, with their counts, most frequent first."""
    failed = _report_jobs(start, end, owner).filter(status=JobStatus.FAILED).exclude(error_type="")
    counts = failed.values("error_type").annotate(count=Count("id")).order_by("-count", "error_type")[:limit]
    return [(row["error_type"], row["count"]) for row in counts]


def report_total(rows: list[ReportRow]) -> ReportRow:
    """All rows folded into one: the figures of the whole period."""
    total = ReportRow(day=rows[0].day if rows else date.min, type="all")
    for row in rows:
        for status, count in row.counts.items():
            total.counts[status] += count
        total.durations += row.durations
    return total


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def render_pdf(title: str, start: date, end: date, rows: list[ReportRow], errors: list[tuple[str, int]]) -> bytes:
    """A printable report: title, period, summary figures, jobs per day by type and status, top errors."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    grid = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("FONTSIZE", (0, 0), (-1, -1), 7.5),
        ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
    ])
    total = report_total(rows)
    summary = [
        ["jobs", "completed", "failed", "cancelled", "failure rate", "p50 duration", "p95 duration"],
        [total.total, total.counts[JobStatus.COMPLETED], total.counts[JobStatus.FAILED],
         total.counts[JobStatus.CANCELLED], _pct(total.failure_rate),
         _seconds(total.duration_percentile(0.50)), _seconds(total.duration_percentile(0.95))],
    ]
    per_day = [["date", "type", "total", *STATUS_COLUMNS, "failure rate", "p50", "p95"]] + [
        [row.day.isoformat(), row.type, row.total, *(row.counts[s] for s in STATUS_COLUMNS),
         _pct(row.failure_rate), _seconds(row.duration_percentile(0.50)), _seconds(row.duration_percentile(0.95))]
        for row in rows
    ]
    top_errors = [["error type", "count"], *([error_type, count] for error_type, count in errors)]

    story = [
        Paragraph(title, styles["Title"]),
        Paragraph(f"Period: {start.isoformat()} to {end.isoformat()} (UTC days, inclusive)", styles["Normal"]),
        Spacer(0, 12), Paragraph("Summary", styles["Heading2"]), Table(summary, style=grid),
        Spacer(0, 12), Paragraph("Jobs per day by type and status", styles["Heading2"]),
        Table(per_day, style=grid, repeatRows=1) if rows else Paragraph("No jobs in this period.", styles["Normal"]),
        Spacer(0, 12), Paragraph("Most frequent errors", styles["Heading2"]),
        Table(top_errors, style=grid) if errors else Paragraph("No failed jobs.", styles["Normal"]),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=landscape(A4), title=title).build(story)
    return out.getvalue()


def report_email_staff(subject: str, body: str, filename: str, content: bytes | str, mimetype: str) -> list[str]:
    """Send a report to every operator who may view every job and has an email address, the file
    attached. Returns the recipients (none: nothing sent)."""
    recipients = sorted(users_with_permission(VIEW_JOBS).exclude(email="").values_list("email", flat=True))
    if recipients:
        message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, to=recipients)
        message.attach(filename, content, mimetype)
        message.send()
    return recipients
