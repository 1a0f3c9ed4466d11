"""Log lines keyed by (action, attempt, seq) instead of a separate id.

Django cannot alter a table's primary key into a composite one, so the lines move to a new
table with that key, in the same transaction, and the new table takes the old one's name.
"""

import django.db.models.deletion
from django.db import migrations, models

COLUMNS = '"action_id", "attempt", "seq", "stream", "timestamp", "text"'


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0012_action_unsucceeded_order"),
    ]

    operations = [
        migrations.CreateModel(
            name="KeyedLogLine",
            fields=[
                ("pk", models.CompositePrimaryKey("action_id", "attempt", "seq", serialize=False)),
                ("attempt", models.PositiveIntegerField(default=1)),
                (
                    "seq",
                    models.PositiveBigIntegerField(
                        help_text="Per action attempt, assigned by the agent."
                    ),
                ),
                (
                    "stream",
                    models.CharField(
                        choices=[
                            ("stdout", "stdout"),
                            ("stderr", "stderr"),
                            ("system", "system"),
                            ("syslog", "syslog"),
                        ],
                        default="stdout",
                        max_length=6,
                    ),
                ),
                ("timestamp", models.DateTimeField()),
                ("text", models.TextField()),
                (
                    "action",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="workflows.action",
                    ),
                ),
            ],
            options={"ordering": ["action", "attempt", "seq"]},
        ),
        migrations.RunSQL(
            sql=f"INSERT INTO workflows_keyedlogline ({COLUMNS}) "
            f"SELECT {COLUMNS} FROM workflows_logline",
            reverse_sql=f"INSERT INTO workflows_logline ({COLUMNS}) "
            f"SELECT {COLUMNS} FROM workflows_keyedlogline",
        ),
        migrations.DeleteModel(name="LogLine"),
        migrations.RenameModel(old_name="KeyedLogLine", new_name="LogLine"),
        migrations.AlterField(
            model_name="logline",
            name="action",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="log_lines",
                to="workflows.action",
            ),
        ),
    ]
