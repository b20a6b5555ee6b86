"""The inbox's SLA index, built concurrently on PostgreSQL (conversations is a big table: writes go
on while it builds). Split out of 0008 so that migration stays transactional."""

from django.db import migrations, models

from common.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("conversations", "0009_sla_breach_beat")]

    operations = [
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(fields=["state", "sla_due_at", "id"], name="conv_state_sla_due"),
        ),
    ]
