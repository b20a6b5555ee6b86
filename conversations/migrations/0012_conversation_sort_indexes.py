"""The API search's sort indexes (created_at, updated_at, waiting_since with the id breaking ties), built
concurrently on PostgreSQL: conversations is a big table and writes go on while they build."""

from django.db import migrations, models

from common.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("conversations", "0011_conversation_title_custom_attributes")]

    operations = [
        AddIndexConcurrently(model_name="conversation", index=models.Index(fields=["created_at", "id"], name="conv_created_id")),
        AddIndexConcurrently(model_name="conversation", index=models.Index(fields=["updated_at", "id"], name="conv_updated_id")),
        AddIndexConcurrently(
            model_name="conversation", index=models.Index(fields=["waiting_since", "id"], name="conv_waiting_id")
        ),
    ]
