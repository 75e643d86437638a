"""Seed the job schedules: daily and weekly reports, nightly cleanup. Editable in the admin afterwards."""
import json

from django.db import migrations

TOKYO = "Asia/Tokyo"
# name: (crontab minute, hour, day_of_week, job type, job input, description)
SEEDS = {
    "reports.daily": ("0", "9", "*", "reports.scheduled", {"period": "day", "format": "pdf", "email_staff": True},
                      "Operations report of the previous day, mailed to staff."),
    "reports.weekly": ("0", "10", "1", "reports.scheduled", {"period": "week", "format": "pdf", "email_staff": True},
                       "Operations report of the previous 7 days, mailed to staff, on Mondays."),
    "jobs.cleanup": ("0", "2", "*", "jobs.cleanup", {},
                     "Removes completed and cancelled jobs older than JOBS_RETENTION_DAYS; keeps failed ones."),
}


def seed(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (minute, hour, day_of_week, job_type, job_input, description) in SEEDS.items():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week=day_of_week, day_of_month="*", month_of_year="*", timezone=TOKYO
        )
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": "schedules.fire",
                "crontab": crontab,
                "kwargs": json.dumps({"job_type": job_type, "input": job_input}),
                "description": description,
                "enabled": True,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=SEEDS).delete()


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(seed, unseed)]
