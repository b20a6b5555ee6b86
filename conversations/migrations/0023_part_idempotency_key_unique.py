"""The unique index over the keyed parts only (a partial unique constraint), built concurrently on PostgreSQL: the
column came empty in 0022, so no row can break it, and writes go on while it builds."""

from django.db import migrations, models

from common.migration_operations import AddUniqueConstraintConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("conversations", "0022_part_idempotency_key")]

    operations = [
        AddUniqueConstraintConcurrently(
            model_name="conversationpart",
            constraint=models.UniqueConstraint(
                condition=models.Q(idempotency_key__isnull=False),
                fields=("idempotency_key",),
                name="part_idempotency_key",
            ),
        ),
    ]
