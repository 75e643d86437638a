from django.conf import settings
from django.db import migrations, models

from common.migrations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    # Indexes built CONCURRENTLY on PostgreSQL: the job tables stay writable meanwhile.
    atomic = False

    dependencies = [
        ('jobs', '0007_diagnostics_effect_moved'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='job',
            index=models.Index(fields=['created_at'], name='job_created'),
        ),
        AddIndexWithoutLocking(
            model_name='job',
            index=models.Index(fields=['completed_at'], name='job_completed'),
        ),
        AddIndexWithoutLocking(
            model_name='job',
            index=models.Index(condition=models.Q(('discarded_at__isnull', True), ('status', 'failed')), fields=['-id'], include=['type', 'error_type'], name='job_dead_letters'),
        ),
        AddIndexWithoutLocking(
            model_name='jobattempt',
            index=models.Index(fields=['started_at'], name='attempt_started'),
        ),
        AddIndexWithoutLocking(
            model_name='jobattempt',
            index=models.Index(fields=['finished_at'], name='attempt_finished'),
        ),
    ]
