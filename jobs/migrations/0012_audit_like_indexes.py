"""The audit trail's LIKE (varchar_pattern_ops) indexes on action and job_id: nothing searches
either with LIKE or startswith, and both were written by every submit. Dropped CONCURRENTLY on
PostgreSQL (the table stays writable); nothing elsewhere."""
from django.db import migrations

from common.migrations import DropPatternIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('jobs', '0011_fewer_indexes'),
    ]

    operations = [
        DropPatternIndexWithoutLocking(model_name='auditevent', name='action'),
        DropPatternIndexWithoutLocking(model_name='auditevent', name='job'),
    ]
