from django.db import migrations, models

from common.migrations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    # Indexes built CONCURRENTLY on PostgreSQL: the job tables stay writable meanwhile.
    atomic = False

    dependencies = [
        ('jobs', '0008_time_and_dead_letter_indexes'),
        ('notifications', '0002_operator_permissions'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='webhookattempt',
            index=models.Index(fields=['started_at'], name='webhook_try_started'),
        ),
        AddIndexWithoutLocking(
            model_name='webhookdelivery',
            index=models.Index(fields=['finished_at'], name='webhook_delivery_finished'),
        ),
    ]
