"""Owner and operator actions on webhooks, and the idempotent email send."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone

from jobs.errors import PermanentError
from jobs.engine.audit import audit_record
from jobs.sensitive import text_encrypt

from .models import SentEmail, WebhookDelivery, WebhookSecret
from .webhooks import new_webhook_secret, webhook_redeliver, webhook_secret_get

logger = logging.getLogger(__name__)


def webhook_secret_rotate(user: Any, *, actor: Any, client_address: str | None = None) -> WebhookSecret:
    """Replace the user's signing secret. Tries made from now on, retries included, are signed with
    the new one and, for WEBHOOK_SECRET_OVERLAP_SECONDS, with the old one too."""
    now = timezone.now()
    with transaction.atomic():
        secret = webhook_secret_get(user.pk)
        WebhookSecret.objects.filter(id=secret.id).update(
            secret=text_encrypt(new_webhook_secret()), previous_secret=secret.secret, rotated_at=now,
            previous_valid_until=now + timedelta(seconds=settings.WEBHOOK_SECRET_OVERLAP_SECONDS),
        )
        audit_record(actor=actor, action="webhook.secret_rotate", target=f"user:{user.pk}", client_address=client_address)
    secret.refresh_from_db()
    return secret


def webhook_deliveries_redeliver(deliveries: list[WebhookDelivery], *, actor: Any) -> int:
    """The admin's "redeliver": one more try of each finished delivery, audited on its job."""
    redelivered = 0
    with transaction.atomic():
        for delivery in deliveries:
            if webhook_redeliver(delivery):
                redelivered += 1
                audit_record(actor=actor, action="webhook.redeliver", job=delivery.job, details={"webhook_id": delivery.webhook_id})
    return redelivered


# --- email ----------------------------------------------------------------------


def email_render(template: str, context: dict) -> tuple[str, str]:
    """templates/email/<template>.txt: the first line is the subject, the rest the body."""
    try:
        text = render_to_string(f"email/{template}.txt", context)
    except TemplateDoesNotExist:
        raise PermanentError(f"There is no email template {template!r}.") from None
    subject, _, body = text.lstrip().partition("\n")
    return subject.strip()[:200], body.lstrip("\n")


def email_send(*, user: Any, template: str, context: dict, dedupe_key: str, job_id: str = "") -> dict:
    """Send one email at most once per (user, template, dedupe_key).

    The record is claimed (committed) before the email goes to the backend. A duplicate or retried
    job finds the claim and sends nothing. If the backend raises, the claim is released so that the
    job's retry sends. If the process dies after the claim, the record stays `claimed` and the
    email is not sent again: at most once, never twice (short of a backend that accepted the email
    and then raised, e.g. an SMTP timeout after the message was taken).
    """
    if not user.email:
        raise PermanentError(f"User {user.pk} has no email address.")
    subject, body = email_render(template, {**context, "user": user})
    try:
        with transaction.atomic():
            record = SentEmail.objects.create(
                user=user, template=template, dedupe_key=dedupe_key, job_id=job_id, to=user.email, subject=subject
            )
    except IntegrityError:
        earlier = SentEmail.objects.get(user=user, template=template, dedupe_key=dedupe_key)
        logger.info("Email %s/%s to user %s already %s by job %s.", template, dedupe_key, user.pk, earlier.status, earlier.job_id)
        return {"sent": False, "duplicate_of_job": earlier.job_id, "status": earlier.status}
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:
        record.delete()
        raise
    SentEmail.objects.filter(id=record.id).update(status=SentEmail.Status.SENT, sent_at=timezone.now())
    return {"sent": True, "to": user.email, "subject": subject}
