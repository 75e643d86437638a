"""The beat scheduler: django-celery-beat's database scheduler, firing job schedules itself.

An entry whose task is `schedules.fire` is not sent to the broker: beat creates the firing's Job
in the database directly (published after commit, like any job), named by the firing's nominal
time. So a broker outage loses no firing (the dispatcher publishes the job later), and two beat
processes firing the same schedule create one job.
"""
from __future__ import annotations

from types import SimpleNamespace

from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from .services import schedule_fire
from .tasks import FIRE_TASK
from .timing import fire_time


class JobScheduler(DatabaseScheduler):
    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        if entry.task != FIRE_TASK:
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        entry = self.reserve(entry) if advance else entry
        fired_at = fire_time(entry.schedule, timezone.now())
        job = schedule_fire(schedule=entry.name, fired_at=fired_at, **entry.kwargs)
        # apply_entry logs the id of what was "sent".
        return SimpleNamespace(id=job.id if job else f"already fired for {fired_at.isoformat()}")
