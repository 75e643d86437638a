"""The claim id, the fencing token beside the attempt number. Nullable, no default: PostgreSQL adds
the columns without rewriting or scanning the tables."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0012_audit_like_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='claim_id',
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='jobattempt',
            name='claim_id',
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
    ]
