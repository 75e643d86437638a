"""Report building: statistics of the job history over a date range, rendered as CSV."""
from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from jobs.models import Job, JobStatus

STATUS_COLUMNS = [status.value for status in JobStatus]
CSV_HEADER = ["date", "type", "total", *STATUS_COLUMNS, "failure_rate", "p50_seconds", "p95_seconds"]


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


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


def report_rows(start: date, end: date, owner=None) -> list[ReportRow]:
    """One row per (day, job type) of jobs created from `start` to `end` inclusive (UTC days).
    `owner` limits the report to one user's jobs; None covers everyone's (staff reports)."""
    jobs = Job.objects.filter(created_at__date__gte=start, created_at__date__lte=end)
    if owner is not None:
        jobs = jobs.filter(owner=owner)
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
