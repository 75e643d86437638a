"""DiagnosticsEffect moved here from the jobs app; its table stays where it is."""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('jobs', '0007_diagnostics_effect_moved'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='DiagnosticsEffect',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('attempt', models.PositiveIntegerField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('job', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='diagnostics_effect', to='jobs.job')),
                    ],
                    options={'db_table': 'jobs_diagnosticseffect'},
                ),
            ],
        ),
    ]
