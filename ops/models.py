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
