"""When a schedule fires: pure functions over celery schedules, shared by beat and the admin."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from celery import schedules

# Look-backs tried in turn to find the latest crontab occurrence; the first one that reaches back
# past an occurrence bounds the walk forward to a few steps, however frequent the crontab.
_LOOKBACKS = (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=367 * 4))
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def crontab_next(schedule: schedules.crontab, after: datetime) -> datetime:
    """The first occurrence of `schedule` strictly after `after`, in the crontab's time zone."""
    start, delta, _now = schedule.remaining_delta(after)
    return start + delta


def fire_time(schedule: schedules.BaseSchedule, now: datetime) -> datetime:
    """The nominal time of the firing that is due at `now`: the same in every beat process, so it
    names the firing. A crontab's latest occurrence at or before `now`; an interval's latest
    multiple of its period since a fixed epoch; anything else (solar, clocked) `now` to the second."""
    if isinstance(schedule, schedules.crontab):
        for lookback in _LOOKBACKS:
            occurrence = crontab_next(schedule, now - lookback)
            if occurrence <= now:
                while (following := crontab_next(schedule, occurrence)) <= now:
                    occurrence = following
                return occurrence.astimezone(timezone.utc)
    elif type(schedule) is schedules.schedule:
        every = schedule.run_every.total_seconds()
        slots = (now - EPOCH).total_seconds() // every
        return EPOCH + timedelta(seconds=slots * every)
    return now.astimezone(timezone.utc).replace(microsecond=0)


def next_run(schedule: schedules.BaseSchedule, last_run_at: datetime | None, now: datetime) -> datetime | None:
    """When `schedule` fires next (for display), in the schedule's own time zone where it has one."""
    if isinstance(schedule, schedules.crontab):
        return crontab_next(schedule, now)
    if type(schedule) is schedules.schedule:
        return max(now, (last_run_at or now) + schedule.run_every)
    return None
