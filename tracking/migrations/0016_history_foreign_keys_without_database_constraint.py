"""Page views and events keep their foreign keys to contacts and sessions in Django only
(db_constraint=False): the database constraints go (docs/partitioning.md, Integrity).

Dropping a foreign key is quick but takes an ACCESS EXCLUSIVE lock on the table (every partition of
it) and one on the referenced table: on PostgreSQL each field's change waits at most a second for its
locks and is retried (tracking.partitioning.with_lock_retries), so a long query never makes the app's
writes queue behind the migration. Going back adds the constraints again, which reads every row
while writes to the table wait: on a big install, plan it.
"""

import django.db.models.deletion
from django.db import migrations, models

from tracking import partitioning


class AlterFieldWithLockRetries(migrations.AlterField):
    """AlterField whose DDL, on PostgreSQL, waits a bounded time for each lock and is retried."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        forwards = super().database_forwards
        self._with_retries(schema_editor, lambda: forwards(app_label, schema_editor, from_state, to_state))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        backwards = super().database_backwards
        self._with_retries(schema_editor, lambda: backwards(app_label, schema_editor, from_state, to_state))

    def _with_retries(self, schema_editor, alter):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            alter()
            return
        partitioning.with_lock_retries(connection, f"Altering {self.model_name}.{self.name}", lambda cursor: alter())


class Migration(migrations.Migration):
    # Each field's change commits on its own: a lock held for one table never waits for another's.
    atomic = False

    dependencies = [
        ("contacts", "0009_privacy_audit_restrict_lift_object"),
        ("tracking", "0015_website_track_bots"),
    ]

    operations = [
        AlterFieldWithLockRetries(
            model_name="pageview",
            name="contact",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="page_views",
                to="contacts.contact",
            ),
        ),
        AlterFieldWithLockRetries(
            model_name="pageview",
            name="session",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="page_views",
                to="tracking.websession",
            ),
        ),
        AlterFieldWithLockRetries(
            model_name="event",
            name="contact",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="contacts.contact",
            ),
        ),
    ]
