"""The system account that owns what the service does by itself (schedule firings). Created here, so
that it exists before any process asks who it is (jobs.authorization.system_user_id)."""
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import migrations

SYSTEM_USERNAME = "system"  # jobs.authorization.SYSTEM_USERNAME, as it was when this ran


def create_system_user(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    User.objects.get_or_create(
        username=SYSTEM_USERNAME,
        # No usable password: the account cannot log in. Staff, as it has been since schedules began.
        defaults={"is_staff": True, "email": "", "first_name": "Schedules", "password": make_password(None)},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_operator_permissions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create_system_user, migrations.RunPython.noop)]
