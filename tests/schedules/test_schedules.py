"""Schedules: time zones, one job per firing (also with two real beat processes), seeds, admin."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from django.db import connections
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from config.celery import app
from jobs.models import AuditEvent, Job, JobStatus
from jobs.authorization import SYSTEM_USERNAME
from schedules.services import schedule_fire
from schedules.timing import fire_time

from ..support import BeatProcess, database_url, wait_for

UTC = timezone.utc


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC)


def job_schedule(name: str, job_type="diagnostics.sleep", input=None, **schedule) -> PeriodicTask:
    return PeriodicTask.objects.create(
        name=name, task="schedules.fire", kwargs=json.dumps({"job_type": job_type, "input": input or {}}), **schedule
    )


@pytest.fixture
def tokyo_nine(db):
    crontab = CrontabSchedule.objects.create(minute="0", hour="9", timezone="Asia/Tokyo")
    return job_schedule("test.tokyo", crontab=crontab, last_run_at=at("2026-03-09T00:00:05"))


@pytest.mark.django_db
def test_a_schedule_at_nine_tokyo_is_due_at_midnight_utc_and_not_at_nine_utc(tokyo_nine):
    entry = ModelEntry(tokyo_nine, app=app)

    with time_machine.travel(at("2026-03-09T23:59:30"), tick=False):
        assert not entry.is_due().is_due, "08:59:30 in Tokyo"
    with time_machine.travel(at("2026-03-10T00:00:01"), tick=False):
        assert entry.is_due().is_due, "09:00:01 in Tokyo"
        assert fire_time(entry.schedule, datetime.now(UTC)) == at("2026-03-10T00:00:00")

    entry.last_run_at = at("2026-03-10T00:00:01")
    with time_machine.travel(at("2026-03-10T09:00:01"), tick=False):
        assert not entry.is_due().is_due, "09:00 UTC is 18:00 in Tokyo"
        assert fire_time(entry.schedule, datetime.now(UTC)) == at("2026-03-10T00:00:00"), "still the same firing"


@pytest.mark.django_db
def test_firing_twice_for_the_same_time_creates_one_job_owned_by_the_system_user():
    fired_at = at("2026-03-10T00:00:00")

    first = schedule_fire(schedule="test.daily", job_type="diagnostics.sleep", input={"seconds": 0}, fired_at=fired_at)
    second = schedule_fire(schedule="test.daily", job_type="diagnostics.sleep", input={"seconds": 0}, fired_at=fired_at)
    next_day = schedule_fire(schedule="test.daily", job_type="diagnostics.sleep", fired_at=fired_at + timedelta(days=1))

    assert first is not None and second is None and next_day is not None
    job = Job.objects.get(id=first.id)
    assert job.schedule_key == "test.daily@2026-03-10T00:00:00+00:00"
    assert job.owner.username == SYSTEM_USERNAME and not job.owner.has_usable_password()
    assert job.run_at == fired_at and job.status == JobStatus.PENDING
    assert Job.objects.filter(schedule_key__startswith="test.daily@").count() == 2
    assert AuditEvent.objects.filter(action="schedule.fire", target="schedule:test.daily").count() == 2


@pytest.mark.django_db
def test_the_seeded_schedules_fire_jobs_in_tokyo_time():
    seeded = {task.name: task for task in PeriodicTask.objects.filter(task="schedules.fire").select_related("crontab")}

    assert set(seeded) >= {"reports.daily", "reports.weekly", "jobs.cleanup"}
    crons = {name: (t.crontab.hour, t.crontab.minute, t.crontab.day_of_week, str(t.crontab.timezone))
             for name, t in seeded.items()}
    assert crons["reports.daily"] == ("9", "0", "*", "Asia/Tokyo")
    assert crons["reports.weekly"] == ("10", "0", "1", "Asia/Tokyo")
    assert crons["jobs.cleanup"] == ("2", "0", "*", "Asia/Tokyo")
    assert json.loads(seeded["reports.daily"].kwargs) == {
        "job_type": "reports.scheduled", "input": {"period": "day", "format": "pdf", "email_staff": True}
    }
    weekly = seeded["reports.weekly"].schedule
    assert fire_time(weekly, at("2026-03-18T12:00:00")) == at("2026-03-16T01:00:00"), "Monday 10:00 JST"


@pytest.mark.worker
def test_two_beat_processes_create_one_job_per_firing(transactional_db, tmp_path):
    """Both beats fire a 2 s schedule at their own pace; each firing still makes exactly one job."""
    every = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    job_schedule("test.every2s", interval=every, input={"seconds": 0})
    database = database_url(connections["default"].settings_dict)
    beats = [BeatProcess(database, tmp_path).start()]
    time.sleep(0.9)  # out of phase with the first
    beats.append(BeatProcess(database, tmp_path).start())
    started = time.monotonic()
    # Until each beat has fired at least three times (about 6 s; longer on a loaded machine).
    wait_for(lambda: all(beat.log().count("Sending due task test.every2s") >= 3 for beat in beats), timeout=60,
             interval=0.2, message="three firings in each beat")
    # Counted before the beats stop: a beat can take a while to act on SIGTERM (it was seen
    # firing for 30 s more once, when the signal landed during a database write), and what it
    # fires meanwhile belongs to no measured interval.
    keys = list(Job.objects.filter(schedule_key__startswith="test.every2s@").values_list("schedule_key", flat=True))
    sends = [beat.log().count("Sending due task test.every2s") for beat in beats]
    elapsed = time.monotonic() - started
    for beat in beats:
        beat.stop()
    assert all(count >= 3 for count in sends), (sends, beats[0].log(), beats[1].log())
    assert len(keys) == len(set(keys))
    slots = {key.split("@")[1] for key in keys}
    # Both beats fired about every 2 s, so without deduplication there would be about twice as many.
    assert len(keys) <= elapsed / 2 + 2 < sum(sends), (keys, sends)
    for slot in slots:
        assert datetime.fromisoformat(slot).second % 2 == 0 and datetime.fromisoformat(slot).microsecond == 0


@pytest.mark.django_db
def test_schedule_admin_shows_next_run_in_its_time_zone_and_links_last_runs(client, staff_user, tokyo_nine):
    job = schedule_fire(schedule="test.tokyo", job_type="diagnostics.sleep", fired_at=at("2026-03-10T00:00:00"))
    client.force_login(staff_user)

    listing = client.get("/admin/django_celery_beat/periodictask/")
    page = client.get(f"/admin/django_celery_beat/periodictask/{tokyo_nine.pk}/change/")

    assert listing.status_code == 200 and b"reports.daily" in listing.content
    assert page.status_code == 200
    html = page.content.decode()
    assert "09:00 JST (Asia/Tokyo)" in html
    assert f'/admin/jobs/job/{job.id}/change/' in html and "2026-03-10 00:00 UTC" in html


@pytest.mark.django_db
def test_schedule_admin_refuses_bad_job_input_and_audits_changes(client, staff_user, tokyo_nine):
    client.force_login(staff_user)
    url = f"/admin/django_celery_beat/periodictask/{tokyo_nine.pk}/change/"
    form = {
        "name": tokyo_nine.name, "regtask": "schedules.fire", "task": "", "enabled": "on",
        "crontab": tokyo_nine.crontab_id, "args": "[]", "headers": "{}", "description": "",
        "kwargs": json.dumps({"job_type": "diagnostics.sleep", "input": {"seconds": "three"}}),
    }

    refused = client.post(url, form)
    form["kwargs"] = json.dumps({"job_type": "diagnostics.sleep", "input": {"seconds": 3}})
    saved = client.post(url, form)

    assert refused.status_code == 200 and "Invalid input" in refused.content.decode()
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert json.loads(PeriodicTask.objects.get(pk=tokyo_nine.pk).kwargs)["input"] == {"seconds": 3}
    assert AuditEvent.objects.filter(action="schedule.change", target="schedule:test.tokyo", actor=staff_user).exists()
