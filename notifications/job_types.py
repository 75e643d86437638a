"""Notification job types."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from pydantic import Field

from jobs.context import JobContext
from jobs.errors import PermanentError
from jobs.registry import JobInput, RetryPolicy, job_type

from .services import email_send


class SendEmailInput(JobInput):
    user_id: int = Field(description="Who gets the email (yourself, unless you are staff).")
    template: str = Field(pattern=r"^[a-z0-9_]{1,100}$", description="Name of templates/email/<template>.txt.")
    context: dict[str, Any] = Field(default_factory=dict, description="Values for the template.")
    dedupe_key: str | None = Field(
        None, min_length=1, max_length=200,
        description="The email is sent once per (user, template, dedupe_key); defaults to the job's id.",
    )


@job_type("notifications.send_email", input=SendEmailInput, retry=RetryPolicy(max_attempts=5, base=2.0, cap=60.0))
def send_email(ctx: JobContext, data: SendEmailInput) -> dict:
    """Renders templates/email/<template>.txt and sends it once per (user, template, dedupe_key)."""
    user = get_user_model().objects.filter(id=data.user_id, is_active=True).first()
    if user is None:
        raise PermanentError(f"No active user {data.user_id}.")
    if user.pk != ctx.owner.pk and not ctx.owner.is_staff:
        raise PermissionError("Only staff may email other users.")
    return email_send(
        user=user, template=data.template, context=data.context,
        dedupe_key=data.dedupe_key or ctx.job_id, job_id=ctx.job_id,
    )
