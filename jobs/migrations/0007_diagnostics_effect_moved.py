"""DiagnosticsEffect moved to the diagnostics app (diagnostics/migrations/0001_initial.py); the
table is kept, only Django's record of whose model it is changes."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0006_system_user'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='DiagnosticsEffect')]),
    ]
