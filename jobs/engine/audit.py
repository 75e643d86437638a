"""Who did what to which job, when and from where: AuditEvent rows, appended beside the change."""
from __future__ import annotations

from typing import Any

from ..models import AuditEvent, Job


def audit_record(**event) -> AuditEvent:
    record = audit_event(**event)
    record.save()
    return record


def audit_event(
    *,
    actor: Any,
    action: str,
    job: Job | None = None,
    target: str = "",
    client_address: str | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """An unsaved audit event."""
    return AuditEvent(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        job=job,
        target=target or (job.id if job else ""),
        client_address=client_address,
        details=details or {},
    )
