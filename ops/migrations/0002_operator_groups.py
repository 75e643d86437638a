"""Two groups for the console: viewers read everything an operator reads; operators also act
(replay, cancel, discard, redeliver, rotate, edit schedules). Grant one by adding a staff account
to it. Created once: later edits of a group in the admin stay as the admin made them."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWERS = "Job viewers"
OPERATORS = "Job operators"

VIEWER_PERMISSIONS = [
    "jobs.view_job", "jobs.view_jobattempt", "jobs.view_auditevent", "jobs.view_metrics",
    "ops.view_alert",
    "notifications.view_webhookdelivery", "notifications.view_webhookattempt", "notifications.view_webhooksecret",
    "notifications.view_sentemail",
    "django_celery_beat.view_periodictask", "django_celery_beat.view_crontabschedule",
    "django_celery_beat.view_intervalschedule", "django_celery_beat.view_clockedschedule",
    "django_celery_beat.view_solarschedule",
]
OPERATOR_PERMISSIONS = VIEWER_PERMISSIONS + [
    "jobs.replay_job", "jobs.replay_edited_job", "jobs.cancel_job", "jobs.discard_job",
    "notifications.redeliver_webhookdelivery", "notifications.rotate_webhooksecret",
    *(f"django_celery_beat.{action}_{model}" for action in ("add", "change", "delete")
      for model in ("periodictask", "crontabschedule", "intervalschedule", "clockedschedule", "solarschedule")),
]


def create_groups(apps, schema_editor):
    # Django creates permissions after the last migration; these groups need them now.
    for app_config in apps.get_app_configs():
        models_module, app_config.models_module = getattr(app_config, "models_module", None), True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ((VIEWERS, VIEWER_PERMISSIONS), (OPERATORS, OPERATOR_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=name)
        for permission in wanted:
            app_label, codename = permission.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[VIEWERS, OPERATORS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("jobs", "0006_system_user"),
        ("notifications", "0002_operator_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
