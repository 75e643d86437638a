"""The dead-letter count, kept as a tally by triggers on PostgreSQL, seeded with the exact count.

The triggers fire only on rows that become or stop being dead letters (their WHEN clauses are
evaluated without calling the function), from any path: the engine's moves, a cascade when a user
is deleted, SQL typed by hand. CREATE TRIGGER locks the job table against writes until this
migration commits, so the seed count and the triggers start from the same moment. TRUNCATE of
the job table fires no row trigger; a statement trigger empties the tally with it. Other databases
count the dead letters when asked (jobs.selectors.dead_letter_count)."""
from django.db import migrations, models

IS_DEAD_LETTER = "{row}.status = 'failed' AND {row}.discarded_at IS NULL"

INSTALL = [f"""
CREATE FUNCTION jobs_dead_letter_tally() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO jobs_deadlettertally (change)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN -1 WHEN {IS_DEAD_LETTER.format(row="NEW")} THEN 1 ELSE -1 END);
    RETURN NULL;
END $$""", f"""
CREATE TRIGGER job_dead_letter_inserted AFTER INSERT ON jobs_job FOR EACH ROW
    WHEN ({IS_DEAD_LETTER.format(row="NEW")}) EXECUTE FUNCTION jobs_dead_letter_tally()""", f"""
CREATE TRIGGER job_dead_letter_deleted AFTER DELETE ON jobs_job FOR EACH ROW
    WHEN ({IS_DEAD_LETTER.format(row="OLD")}) EXECUTE FUNCTION jobs_dead_letter_tally()""", f"""
CREATE TRIGGER job_dead_letter_moved AFTER UPDATE OF status, discarded_at ON jobs_job FOR EACH ROW
    WHEN (({IS_DEAD_LETTER.format(row="OLD")}) <> ({IS_DEAD_LETTER.format(row="NEW")}))
    EXECUTE FUNCTION jobs_dead_letter_tally()""", """
CREATE FUNCTION jobs_dead_letter_tally_emptied() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM jobs_deadlettertally;
    RETURN NULL;
END $$""", """
CREATE TRIGGER job_table_truncated AFTER TRUNCATE ON jobs_job FOR EACH STATEMENT
    EXECUTE FUNCTION jobs_dead_letter_tally_emptied()""", f"""
INSERT INTO jobs_deadlettertally (change)
    SELECT count(*) FROM jobs_job WHERE {IS_DEAD_LETTER.format(row="jobs_job")}"""]

UNINSTALL = [
    "DROP TRIGGER job_dead_letter_inserted ON jobs_job",
    "DROP TRIGGER job_dead_letter_deleted ON jobs_job",
    "DROP TRIGGER job_dead_letter_moved ON jobs_job",
    "DROP TRIGGER job_table_truncated ON jobs_job",
    "DROP FUNCTION jobs_dead_letter_tally()",
    "DROP FUNCTION jobs_dead_letter_tally_emptied()",
]


def on_postgresql(statements: list[str]):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql, params=None)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0009_attempt_handed_back'),
    ]

    operations = [
        migrations.CreateModel(
            name='DeadLetterTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('change', models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(on_postgresql(INSTALL), on_postgresql(UNINSTALL)),
    ]
