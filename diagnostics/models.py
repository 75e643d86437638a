from __future__ import annotations

from django.db import models


class DiagnosticsEffect(models.Model):
    """The side effect of a diagnostics.sleep job with record_effect: one row per job, written the
    idempotent way (keyed by the job), so fault tests can count that no effect happened twice."""

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="diagnostics_effect")
    attempt = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "jobs_diagnosticseffect"  # created by jobs' migrations before it moved here
