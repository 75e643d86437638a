"""`schedules.fire`: the task name job schedules carry. Beat fires them itself (schedules.beat);
a worker runs this task only for the admin's "Run selected tasks", a manual firing."""
from __future__ import annotations

from celery import shared_task

FIRE_TASK = "schedules.fire"


@shared_task(name=FIRE_TASK, bind=True, ignore_result=True)
def fire(self, job_type: str, input: dict | None = None, priority: str | None = None) -> str | None:
    from .services import schedule_fire

    # The admin sends the schedule's name as a header; a manual firing has no nominal time.
    schedule = getattr(self.request, "periodic_task_name", None) or "manual"
    job = schedule_fire(schedule=schedule, job_type=job_type, input=input, priority=priority, fired_at=None)
    return job.id if job else None
