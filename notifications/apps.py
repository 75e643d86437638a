from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Webhook delivery, email and operator alerts."""

    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from jobs.engine.hooks import on_job_end
        from jobs.sensitive import on_reencrypt

        from .webhooks import has_webhook, webhook_event_record, webhook_secrets_reencrypt

        # The webhook outbox row commits with the job's end (jobs/hooks.py).
        on_job_end(webhook_event_record, applies=has_webhook)
        # Signing secrets are encrypted with the same keys as sensitive input: rotated with them.
        on_reencrypt("webhook signing secret(s)", webhook_secrets_reencrypt)
