"""Webhook delivery, Saleor style: one WebhookDelivery row per event, one WebhookAttempt row per try.

The event row is written in the same transaction as the job's terminal transition (an outbox), and
the first try is published once that commits; `webhooks_dispatch_due` re-publishes tries whose
message was lost. Tries run on their own Celery queue, `webhooks`, so a slow receiver never holds
up a job worker. Each try is fenced by its number, like job attempts: a duplicated message never
sends twice.
"""
from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone
from functools import partial

import requests
import urllib3
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from jobs.engine.dispatch import publish_each, publish_or_defer
from jobs.engine.retry import RetryPolicy
from jobs.events import job_payload
from jobs.models import Job, JobStatus
from jobs.sensitive import text_encrypt, text_reencrypt

from .models import WebhookAttempt, WebhookDelivery, WebhookSecret
from common.ssrf import TryDeadline, UnsafeWebhookTarget, checked_session, webhook_target

logger = logging.getLogger(__name__)

EVENT_TYPES = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}
# Answers worth another try besides 5xx (Saleor's rule): every other non-2xx answer is final.
RETRYABLE_STATUS_CODES = frozenset({408, 429})
RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "jobservice-webhooks/1"


# --- secrets ------------------------------------------------------------------


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_secret_get(user_id: int) -> WebhookSecret:
    """The user's signing secret, created on first use (stored encrypted)."""
    secret, _ = WebhookSecret.objects.get_or_create(user_id=user_id, defaults={"secret": text_encrypt(new_webhook_secret())})
    return secret


def webhook_secrets_reencrypt() -> int:
    """Re-encrypt every stored signing secret under the first JOBS_ENCRYPTION_KEYS key. Each row is
    written only if it still holds what was read (a rotation meanwhile wins), so it is safe beside
    workers and rotations."""
    changed = 0
    for row_id, secret, previous in WebhookSecret.objects.values_list("id", "secret", "previous_secret").iterator():
        changed += WebhookSecret.objects.filter(id=row_id, secret=secret, previous_secret=previous).update(
            secret=text_reencrypt(secret), previous_secret=text_reencrypt(previous) if previous else ""
        )
    return changed


# --- events -------------------------------------------------------------------


def has_webhook(job: Job) -> bool:
    return bool(job.webhook_url)


def webhook_event_record(job: Job) -> WebhookDelivery | None:
    """Called inside the transaction that moved the job to a terminal state, with the job as it is
    now: record the event for its webhook_url and publish its first try once the transaction commits."""
    if not job.webhook_url or job.status not in EVENT_TYPES:
        return None
    delivery = WebhookDelivery.objects.create(
        job=job,
        event_type=EVENT_TYPES[JobStatus(job.status)],
        url=job.webhook_url,
        payload={
            "type": EVENT_TYPES[JobStatus(job.status)],
            "timestamp": (job.completed_at or timezone.now()).isoformat(),
            "data": job_payload(job),
        },
        max_attempts=webhook_retry_policy().max_attempts,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(partial(webhook_publish, delivery.id, 1))
    return delivery


def webhook_publish(delivery_id: int, attempt: int, countdown: float | None = None) -> bool:
    """Hand "send delivery X, try N" to the `webhooks` queue. A lost publish is found again by
    webhooks_dispatch_due."""
    from .tasks import deliver_webhook

    return publish_or_defer(deliver_webhook, (delivery_id, attempt), countdown=countdown, queue="webhooks")


def webhook_retry_policy() -> RetryPolicy:
    """WEBHOOK_RETRY_DELAYS between tries (one try more than there are delays), each varied by up
    to WEBHOOK_RETRY_JITTER either way."""
    delays = tuple(settings.WEBHOOK_RETRY_DELAYS)
    return RetryPolicy(max_attempts=len(delays) + 1, delays=delays, jitter="spread", spread=settings.WEBHOOK_RETRY_JITTER)


def webhook_retry_delay(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed try number `attempt` (1-based), with jitter."""
    return webhook_retry_policy().backoff(attempt, rand)


# --- one try ------------------------------------------------------------------


@dataclass(frozen=True)
class TryResult:
    duration_ms: int
    status_code: int | None = None
    response_excerpt: str = ""
    error: str = ""
    retryable: bool = False

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(secrets: list[str], webhook_id: str, body: str, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers, signed with each of `secrets` (during a rotation's overlap the
    old and the new one, space-separated in one header, as the specification allows)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(Webhook(secret).sign(webhook_id, at, body) for secret in secrets),
    }


def webhook_send(delivery: WebhookDelivery, secrets: list[str]) -> TryResult:
    """POST the event once, within WEBHOOK_TIMEOUT in all; never follows redirects. Classifies the
    outcome for the retry decision."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    # Signed at each try: receivers reject timestamps more than a few minutes old.
    headers = signed_headers(secrets, delivery.webhook_id, body, datetime.now(dt_timezone.utc))
    timeout = settings.WEBHOOK_TIMEOUT
    timed_out = f"Timed out after {timeout:g} s"
    started = time.monotonic()
    elapsed = lambda: int((time.monotonic() - started) * 1000)  # noqa: E731
    deadline = TryDeadline(timeout)
    try:
        with deadline, checked_session(deadline) as session:
            webhook_target(delivery.url)  # the submit-time rules, for URLs stored before they were tightened
            response = session.post(
                delivery.url, data=body.encode(), headers=headers, timeout=(timeout, timeout),
                allow_redirects=False, stream=True,
            )
            with response:
                excerpt = response.raw.read(RESPONSE_EXCERPT_BYTES, decode_content=True).decode(errors="replace")
    except UnsafeWebhookTarget as exc:
        return TryResult(elapsed(), error=f"Refused: {exc}")
    except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
        return TryResult(elapsed(), error=f"{timed_out}: {exc}", retryable=True)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        error = f"{timed_out}." if deadline.expired else f"{type(exc).__name__}: {exc}"
        return TryResult(elapsed(), error=error, retryable=True)
    # A connection cut by the deadline can look like a whole answer: the headers end at EOF.
    if deadline.expired:
        return TryResult(elapsed(), error=f"{timed_out}.", retryable=True)
    code = response.status_code
    error = ""
    if 300 <= code < 400:
        error = f"Redirect to {response.headers.get('Location', '?')!r} not followed."
    elif not 200 <= code < 300:
        error = f"HTTP {code}"
    return TryResult(
        elapsed(), status_code=code, response_excerpt=excerpt, error=error,
        retryable=code >= 500 or code in RETRYABLE_STATUS_CODES,
    )


def webhook_deliver(delivery_id: int, attempt: int) -> str:
    """Make try `attempt` of a delivery and record it; schedules the next try when one is due.
    Returns what happened, for logs and tests."""
    started_at = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        id=delivery_id, status=WebhookDelivery.Status.PENDING, attempts=attempt - 1
    ).update(status=WebhookDelivery.Status.SENDING, attempts=attempt, claimed_at=started_at, next_attempt_at=None)
    if not claimed:
        return "dropped"
    delivery = WebhookDelivery.objects.select_related("job").get(id=delivery_id)
    result = webhook_send(delivery, webhook_secret_get(delivery.job.owner_id).signing_secrets(started_at))
    retry = not result.delivered and result.retryable and attempt < delivery.max_attempts
    delay = webhook_retry_delay(attempt) if retry else None
    finished_at = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, number=attempt, started_at=started_at, duration_ms=result.duration_ms,
            status_code=result.status_code, response_excerpt=result.response_excerpt, error=result.error[:2000],
            will_retry=retry,
        )
        held = WebhookDelivery.objects.filter(id=delivery_id, status=WebhookDelivery.Status.SENDING, attempts=attempt)
        if result.delivered:
            held.update(status=WebhookDelivery.Status.DELIVERED, finished_at=finished_at)
            outcome = "delivered"
        elif retry:
            if held.update(status=WebhookDelivery.Status.PENDING, next_attempt_at=finished_at + timedelta(seconds=delay)):
                transaction.on_commit(partial(webhook_publish, delivery_id, attempt + 1, countdown=delay))
            outcome = "retrying"
        else:
            held.update(status=WebhookDelivery.Status.FAILED, finished_at=finished_at)
            outcome = "failed"
    log = logger.info if result.delivered else logger.warning
    log("Webhook %s try %s to %s: %s (%s).", delivery.webhook_id, attempt, delivery.url, outcome, result.error or result.status_code)
    return outcome


# --- housekeeping and operator actions ---------------------------------------------


def webhooks_dispatch_due(now: datetime | None = None, limit: int = 500) -> int:
    """Publish tries whose message was lost: overdue pending deliveries, and tries whose worker
    stopped mid-send (recorded as a failed try; the next one follows when tries remain)."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.WEBHOOK_DISPATCH_GRACE_SECONDS)
    deliveries = WebhookDelivery.objects
    stale = now - grace - timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT)
    lost = deliveries.filter(status=WebhookDelivery.Status.SENDING, claimed_at__lt=stale)
    for delivery_id, attempt, max_attempts, claimed_at in list(lost.values_list("id", "attempts", "max_attempts", "claimed_at")[:limit]):
        more = attempt < max_attempts
        with transaction.atomic():
            if deliveries.filter(id=delivery_id, status=WebhookDelivery.Status.SENDING, attempts=attempt).update(
                status=WebhookDelivery.Status.PENDING if more else WebhookDelivery.Status.FAILED,
                next_attempt_at=now if more else None,
                finished_at=None if more else now,
            ):
                WebhookAttempt.objects.get_or_create(
                    delivery_id=delivery_id, number=attempt,
                    defaults={"started_at": claimed_at, "error": "The worker stopped during this try.", "will_retry": more},
                )
                if more:
                    transaction.on_commit(partial(webhook_publish, delivery_id, attempt + 1))
    due = deliveries.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=now - grace)
    return publish_each(
        ((delivery_id, attempts + 1) for delivery_id, attempts in due.values_list("id", "attempts")[:limit]), webhook_publish
    )


def webhook_redeliver(delivery: WebhookDelivery) -> bool:
    """One more try of a finished delivery, now, with the same webhook-id. False when it is still
    under way (pending or sending)."""
    redo = WebhookDelivery.objects.filter(
        id=delivery.id, status__in=(WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED), attempts=delivery.attempts
    ).update(
        status=WebhookDelivery.Status.PENDING, max_attempts=delivery.attempts + 1, next_attempt_at=timezone.now(), finished_at=None
    )
    if redo:
        transaction.on_commit(partial(webhook_publish, delivery.id, delivery.attempts + 1))
    return bool(redo)
