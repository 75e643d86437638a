"""Celery tasks of notifications. Thin: ids in, a service call, the outcome out."""
from __future__ import annotations

from celery import shared_task

from . import webhooks


@shared_task(name="webhooks.deliver", acks_late=True, time_limit=120, soft_time_limit=90)
def deliver_webhook(delivery_id: int, attempt: int) -> str:
    """One try of one webhook delivery; runs on the `webhooks` queue."""
    return webhooks.webhook_deliver(delivery_id, attempt)


@shared_task(name="webhooks.dispatch_due", ignore_result=True, time_limit=60)
def dispatch_due_webhooks() -> int:
    """Beat runs this every 30 s: tries whose message was lost are published again."""
    return webhooks.webhooks_dispatch_due()
