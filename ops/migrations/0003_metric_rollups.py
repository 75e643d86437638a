from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ops', '0002_operator_groups'),
    ]

    operations = [
        migrations.CreateModel(
            name='MetricsFolded',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('through', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name='MetricMinute',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=30)),
                ('type', models.CharField(blank=True, default='', max_length=100)),
                ('queue', models.CharField(blank=True, default='', max_length=16)),
                ('label', models.CharField(blank=True, default='', max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('seconds', models.FloatField(default=0.0)),
                ('minute', models.DateTimeField()),
            ],
            options={
                'indexes': [models.Index(fields=['minute'], name='metric_minute')],
            },
        ),
        migrations.CreateModel(
            name='MetricTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=30)),
                ('type', models.CharField(blank=True, default='', max_length=100)),
                ('queue', models.CharField(blank=True, default='', max_length=16)),
                ('label', models.CharField(blank=True, default='', max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('seconds', models.FloatField(default=0.0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('name', 'type', 'queue', 'label'), name='one_total_per_key')],
            },
        ),
    ]
