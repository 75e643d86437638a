"""Who may do what, as data: each job type declares who may submit it, and every operator action is a
Django permission. Views, the admin, consumers and the runner ask here; none decides on its own.

Operator permissions count for active staff accounts only: an account that cannot log in to the
admin holds no operator rights, whatever it was granted.
"""
from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from .models import Job

if TYPE_CHECKING:
    from .registry import JobType

# Operators' permissions (app_label.codename). view_job is Django's own; the others are declared
# on the models (Meta.permissions), so they can be granted in the admin like any other.
VIEW_JOBS = "jobs.view_job"
REPLAY_JOBS = "jobs.replay_job"
REPLAY_EDITED_JOBS = "jobs.replay_edited_job"
CANCEL_JOBS = "jobs.cancel_job"
DISCARD_JOBS = "jobs.discard_job"
SUBMIT_HIGH_PRIORITY = "jobs.submit_high_priority"
VIEW_METRICS = "jobs.view_metrics"

# The account that owns what the service does by itself (schedule firings): it may submit every
# job type, system-only ones included, and sees every job. It cannot log in (no usable password).
SYSTEM_USERNAME = "system"


class Submitters(enum.Enum):
    """Who may submit a job type."""

    ANYONE = "anyone"  # every active user
    PERMISSION = "permission"  # holders of the type's own permission, jobs.submit_<type>
    SYSTEM = "system"  # only the service itself (schedules) and batch parents: never a user


def submit_permission_codename(type_name: str) -> str:
    return "submit_" + type_name.replace(".", "_")


def submit_permission(type_name: str) -> str:
    """The permission a PERMISSION job type asks of its submitters, e.g. jobs.submit_notifications_broadcast."""
    return "jobs." + submit_permission_codename(type_name)


def is_system_user(user: Any) -> bool:
    """The service's own account: named `system`, and unable to log in (a person who was given that
    name and a password is not it)."""
    return getattr(user, "username", None) == SYSTEM_USERNAME and not user.has_usable_password()


def system_user_get() -> Any:
    """The system account (a migration creates it; a flushed test database may not have it)."""
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_staff": True, "email": "", "first_name": "Schedules"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def is_operator(user: Any, permission: str) -> bool:
    """An active staff account holding `permission` (superusers hold every permission)."""
    return bool(user and user.is_active and user.is_staff and user.has_perm(permission))


def sees_all_jobs(user: Any) -> bool:
    """Whether `user` sees every user's jobs (API, live streams, reports); others see only their own."""
    return is_system_user(user) or is_operator(user, VIEW_JOBS)


def submission_refusal(user: Any, job_type: JobType, priority: str | None) -> str | None:
    """Why `user` may not submit `job_type` at `priority`, or None when they may."""
    if is_system_user(user):
        return None
    if not (user and user.is_active):
        return "Only active users may submit jobs."
    if job_type.submitters is Submitters.SYSTEM:
        return f"Job type {job_type.name!r} is run by the service itself and cannot be submitted."
    if job_type.submitters is Submitters.PERMISSION and not user.has_perm(submit_permission(job_type.name)):
        return f"Submitting {job_type.name!r} needs the permission {submit_permission(job_type.name)}."
    if priority == "high" and priority != job_type.default_priority and not user.has_perm(SUBMIT_HIGH_PRIORITY):
        return f"High priority needs the permission {SUBMIT_HIGH_PRIORITY}."
    return None


def run_refusal(job: Any, job_type: JobType) -> str | None:
    """Why a claimed job may no longer run (the worker asks again): its owner was deactivated, or
    lost the right to submit its type. A batch child is its parent's work: it runs while the
    parent's type is still allowed. `job.owner_is_active` comes with the claim, so a job of a type
    anyone may submit costs no query here."""
    if not job.owner_is_active:
        return f"The owner of job {job.id} is no longer active."
    if job.parent_id is not None:
        from .registry import get_job_type  # the registry imports this module

        job_type = get_job_type(Job.objects.values_list("type", flat=True).get(id=job.parent_id))
    if job_type.submitters is Submitters.ANYONE:
        return None
    return submission_refusal(job.owner, job_type, None)


def job_type_visible(user: Any, job_type: JobType) -> bool:
    """Whether GET /api/job-types/ lists the type to `user`: only types they may submit."""
    return submission_refusal(user, job_type, None) is None


def users_with_permission(permission: str) -> QuerySet:
    """Active staff accounts holding `permission`, directly, through a group, or as superusers:
    whom operator notifications (alerts, scheduled reports) go to."""
    app_label, codename = permission.split(".", 1)
    granted = Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app_label) | Q(
        groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label
    )
    users = get_user_model().objects.filter(is_active=True, is_staff=True)
    return users.filter(Q(is_superuser=True) | granted).distinct()
