from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Alert(models.Model):
    """One occurrence of an alert rule's condition: raised once, notified once, cleared once.

    At most one uncleared row per rule (a partial unique constraint): two evaluators racing to
    raise the same alert insert one row, and only the winner notifies."""

    rule = models.CharField(max_length=50)
    message = models.TextField()
    # The measured value and the threshold it crossed, when raised; the value when cleared.
    value = models.FloatField()
    threshold = models.FloatField()
    raised_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_value = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule"], condition=Q(cleared_at__isnull=True), name="one_active_alert_per_rule"),
        ]

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def __str__(self) -> str:
        return f"{self.rule} ({'active' if self.active else 'cleared'}) {self.message}"


class MetricFigure(models.Model):
    """How many events of one kind (and their summed seconds), per job type, queue and label (a
    histogram bucket, a webhook outcome)."""

    name = models.CharField(max_length=30)
    type = models.CharField(max_length=100, blank=True, default="")
    queue = models.CharField(max_length=16, blank=True, default="")
    label = models.CharField(max_length=16, blank=True, default="")
    count = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name}{{{self.type},{self.queue},{self.label}}} = {self.count}"


class MetricTotal(MetricFigure):
    """A figure summed over every minute folded so far (ops/rollups.py): what /metrics adds the
    unfolded minutes to, instead of counting the whole history. Only grows: the cleanup of old
    jobs does not touch it."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "type", "queue", "label"], name="one_total_per_key")]


class MetricMinute(MetricFigure):
    """The same figures for one settled minute, kept a day: the dashboard's last hour and last
    day read these."""

    minute = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["minute"], name="metric_minute")]


class MetricsFolded(models.Model):
    """One row: every event before `through` is in MetricTotal (and, for the last day, in
    MetricMinute). The row is also the lock that lets one process fold at a time."""

    through = models.DateTimeField(null=True, blank=True)
