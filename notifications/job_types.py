"""Notification job types."""
from __future__ import annotations

import logging
from typing import Any, Literal

from django.contrib.auth import get_user_model
from pydantic import Field, field_validator

from jobs.authorization import Submitters, is_system_user
from jobs.context import JobContext
from jobs.errors import PermanentError
from jobs.registry import JobInput, RetryPolicy, job_type

from .models import EMAIL_OTHER_USERS
from .services import email_send

logger = logging.getLogger(__name__)


class SendEmailInput(JobInput):
    user_id: int = Field(description=f"Who gets the email: yourself, unless you hold {EMAIL_OTHER_USERS}.")
    template: str = Field(pattern=r"^[a-z0-9_]{1,100}$", description="Name of templates/email/<template>.txt.")
    context: dict[str, Any] = Field(default_factory=dict, description="Values for the template.")
    dedupe_key: str | None = Field(
        None, min_length=1, max_length=200,
        description="The email is sent once per (user, template, dedupe_key); defaults to the job's id.",
    )


@job_type("notifications.send_email", input=SendEmailInput, submitters=Submitters.ANYONE,
          retry=RetryPolicy(max_attempts=5, base=2.0, cap=60.0))
def send_email(ctx: JobContext, data: SendEmailInput) -> dict:
    """Renders templates/email/<template>.txt and sends it once per (user, template, dedupe_key)."""
    # The right to write to others is checked before looking anyone up, so that the error does not
    # tell an existing user from a missing one.
    if data.user_id != ctx.owner.pk and not (is_system_user(ctx.owner) or ctx.owner.has_perm(EMAIL_OTHER_USERS)):
        raise PermissionError(f"Emailing other users needs the permission {EMAIL_OTHER_USERS}.")
    user = get_user_model().objects.filter(id=data.user_id, is_active=True).first()
    if user is None:
        raise PermanentError(f"No active user {data.user_id}.")
    return email_send(
        user=user, template=data.template, context=data.context,
        dedupe_key=data.dedupe_key or ctx.job_id, job_id=ctx.job_id,
    )


BATCH_SIZE = 100
TEMPLATE_NAME = r"^[a-z0-9_]{1,100}$"


class BroadcastInput(JobInput):
    user_ids: list[int] | Literal["all_active"] = Field(
        description='Recipients: a list of user ids, or "all_active" for every active user with an email address.'
    )
    template: str = Field(pattern=TEMPLATE_NAME, description="Name of templates/email/<template>.txt.")
    context: dict[str, Any] = Field(default_factory=dict, description="Values for the template.")

    @field_validator("user_ids")
    @classmethod
    def not_empty(cls, value):
        if isinstance(value, list) and not 1 <= len(value) <= 100_000:
            raise ValueError("Give between 1 and 100000 user ids.")
        return value


class EmailBatchInput(JobInput):
    user_ids: list[int] = Field(min_length=1, max_length=BATCH_SIZE)
    template: str = Field(pattern=TEMPLATE_NAME)
    context: dict[str, Any] = Field(default_factory=dict)
    dedupe_key: str = Field(min_length=1, max_length=200)


@job_type("notifications.broadcast", input=BroadcastInput, submitters=Submitters.PERMISSION,
          retry=RetryPolicy(max_attempts=5, base=2.0, cap=60.0))
def broadcast(ctx: JobContext, data: BroadcastInput) -> dict:
    """One email to many users (needs jobs.submit_notifications_broadcast): fans out into child
    jobs of at most 100 recipients."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if data.user_ids != "all_active":
        users = users.filter(id__in=data.user_ids)
    recipients = list(users.order_by("id").values_list("id", flat=True))
    ctx.progress(0, f"{len(recipients)} recipients")
    batches = [recipients[i:i + BATCH_SIZE] for i in range(0, len(recipients), BATCH_SIZE)]
    ctx.spawn_children(
        "notifications.send_email_batch",
        [{"user_ids": batch, "template": data.template, "context": data.context, "dedupe_key": f"broadcast:{ctx.job_id}"}
         for batch in batches],
    )
    requested = len(data.user_ids) if isinstance(data.user_ids, list) else len(recipients)
    # Requested ids that are unknown, inactive or without an address are counted as skipped.
    return {"recipients": len(recipients), "skipped": requested - len(recipients)}


# System-only: created by a broadcast, which the engine checks again for every part it runs.
@job_type("notifications.send_email_batch", input=EmailBatchInput, submitters=Submitters.SYSTEM,
          retry=RetryPolicy(max_attempts=5, base=2.0, cap=60.0))
def send_email_batch(ctx: JobContext, data: EmailBatchInput) -> dict:
    """One part of a broadcast: the same email to up to 100 users, each at most once."""
    users = {user.pk: user for user in get_user_model().objects.filter(id__in=data.user_ids, is_active=True)}
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    for done, user_id in enumerate(data.user_ids, start=1):
        user = users.get(user_id)
        if user is None or not user.email:
            counts["skipped"] += 1
        else:
            try:
                result = email_send(user=user, template=data.template, context=data.context,
                                    dedupe_key=data.dedupe_key, job_id=ctx.job_id)
                counts["sent" if result["sent"] else "skipped"] += 1
            except Exception:
                logger.warning("Broadcast email to user %s failed.", user_id, exc_info=True)
                counts["failed"] += 1
        ctx.progress(100 * done // len(data.user_ids), f"{done}/{len(data.user_ids)} recipients")
    return counts
