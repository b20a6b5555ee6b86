"""The messenger's unread count reads only a contact's unread conversations (a partial index), not its whole
history; built concurrently on PostgreSQL: conversations is a big table and writes go on while it builds."""

from django.db import migrations, models

from common.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("conversations", "0023_part_idempotency_key_unique")]

    operations = [
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(
                fields=["contact"], condition=models.Q(contact_unread_count__gt=0), name="conv_contact_unread"
            ),
        ),
    ]
