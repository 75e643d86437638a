"""Fewer indexes on the job tables: every index is written at each submit and at each move of a
job (its claim and its end change indexed columns, so PostgreSQL cannot update in place). The
dropped ones were covered by others or never read:
- job.owner_id: job_owner_recent (owner_id, id) serves every owner filter;
- job.parent_id: replaced by job_children, over the few jobs that have a parent;
- jobattempt.job_id: one_row_per_attempt (job_id, number) serves it;
- the LIKE (varchar_pattern_ops) indexes of job.id, job.type, job.parent_id and jobattempt.job_id:
  nothing searches them with LIKE or startswith.
On PostgreSQL the new index is built, and the old ones dropped, CONCURRENTLY: the tables stay
writable throughout."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from common.migrations import AddIndexWithoutLocking, DropFieldIndexWithoutLocking, DropPatternIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('jobs', '0010_dead_letter_tally'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='job',
            index=models.Index(condition=models.Q(('parent__isnull', False)), fields=['parent'], name='job_children'),
        ),
        DropFieldIndexWithoutLocking(
            model_name='job',
            name='owner',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='jobs', to=settings.AUTH_USER_MODEL),
        ),
        DropFieldIndexWithoutLocking(
            model_name='job',
            name='parent',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='children', to='jobs.job'),
        ),
        DropFieldIndexWithoutLocking(
            model_name='jobattempt',
            name='job',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attempt_rows', to='jobs.job'),
        ),
        DropPatternIndexWithoutLocking(model_name='job', name='id'),
        DropPatternIndexWithoutLocking(model_name='job', name='type'),
    ]
