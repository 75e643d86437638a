from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Webhook delivery, email and operator alerts (see the README's roadmap)."""

    name = "notifications"
    verbose_name = "Notifications"
