from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Webhook delivery, email and operator alerts."""

    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from jobs.engine.hooks import on_job_end

        from .webhooks import has_webhook, webhook_event_record

        # The webhook outbox row commits with the job's end (jobs/hooks.py).
        on_job_end(webhook_event_record, applies=has_webhook)
