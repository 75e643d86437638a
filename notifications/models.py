from __future__ import annotations

from django.conf import settings
from django.db import models
from ulid import ULID

from jobs.sensitive import text_decrypt

# Operators' rights on webhooks, and the right to email other users than oneself.
REDELIVER_WEBHOOKS = "notifications.redeliver_webhookdelivery"
ROTATE_WEBHOOK_SECRETS = "notifications.rotate_webhooksecret"
EMAIL_OTHER_USERS = "notifications.email_other_users"


def new_webhook_id() -> str:
    # The Standard Webhooks `webhook-id`: one per event, the same on every try of it.
    return f"msg_{ULID()}"


class WebhookSecret(models.Model):
    """A user's signing secret, `whsec_<base64>`, stored encrypted with JOBS_ENCRYPTION_KEYS (the
    keys of sensitive job input). After a rotation the previous secret still signs every try,
    beside the new one, until `previous_valid_until`: receivers switch without missing a delivery."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret")
    secret = models.TextField(help_text="Encrypted (a Fernet token).")
    previous_secret = models.TextField(blank=True, default="", help_text="Encrypted; signs too until previous_valid_until.")
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    @property
    def clear(self) -> str:
        return text_decrypt(self.secret)

    def signing_secrets(self, now) -> list[str]:
        """The secrets a try made at `now` is signed with: the current one, and the previous one
        while its overlap lasts."""
        overlapping = self.previous_secret and self.previous_valid_until and now < self.previous_valid_until
        return [self.clear, *([text_decrypt(self.previous_secret)] if overlapping else [])]

    class Meta:
        permissions = [("rotate_webhooksecret", "Can rotate any user's webhook signing secret")]

    def __str__(self) -> str:
        return f"webhook secret of {self.user}"


class WebhookDelivery(models.Model):
    """One event for one job's webhook_url; each try of it is a WebhookAttempt row."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next try at next_attempt_at
        SENDING = "sending"  # a worker holds try number `attempts`
        DELIVERED = "delivered"  # terminal: the receiver answered 2xx
        FAILED = "failed"  # terminal: refused for good, or tries exhausted

    webhook_id = models.CharField(max_length=40, unique=True, default=new_webhook_id, editable=False)
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="webhook_deliveries")
    event_type = models.CharField(max_length=30)
    url = models.URLField(max_length=2000)
    # The body is fixed when the event happens, so every try sends the same bytes.
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    # The try number is the fencing token, as for jobs: a duplicate message never sends twice.
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["finished_at"], name="webhook_delivery_finished"),  # the metrics' fold
        ]
        verbose_name_plural = "webhook deliveries"
        permissions = [("redeliver_webhookdelivery", "Can redeliver webhook events")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One try of a delivery: append-only."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    # Whether another try follows this one.
    will_retry = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_row_per_webhook_try")]
        indexes = [models.Index(fields=["started_at"], name="webhook_try_started")]  # the metrics' fold

    def __str__(self) -> str:
        return f"{self.delivery_id} try {self.number} ({self.status_code or self.error[:40]})"


class SentEmail(models.Model):
    """What the email job sent: claimed before sending, so one (user, template, key) goes out once."""

    class Status(models.TextChoices):
        CLAIMED = "claimed"  # about to be handed to the email backend (stays so if the process died there)
        SENT = "sent"  # the backend accepted it

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_emails")
    template = models.CharField(max_length=100)
    dedupe_key = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CLAIMED)
    job_id = models.CharField(max_length=26, blank=True, default="")
    to = models.CharField(max_length=254, blank=True, default="")
    subject = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "template", "dedupe_key"], name="one_email_per_dedupe_key"),
        ]
        permissions = [("email_other_users", "Can email users other than oneself (notifications.send_email)")]

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.status})"
