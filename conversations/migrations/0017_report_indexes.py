"""Indexes the reports' daily rollups read a day through (first responses, closes) and the dashboard's
"now" counts of one website, built concurrently on PostgreSQL: writes go on while they build."""

from django.db import migrations, models

from common.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("conversations", "0016_teamwork_mentions_and_macros")]

    operations = [
        AddIndexConcurrently(
            model_name="conversation", index=models.Index(fields=["first_response_at"], name="conv_first_response")
        ),
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(fields=["website", "state", "waiting_since", "id"], name="conv_website_waiting"),
        ),
        AddIndexConcurrently(
            model_name="conversationpart",
            index=models.Index(fields=["created_at"], condition=models.Q(part_type="close"), name="part_close_time"),
        ),
    ]
