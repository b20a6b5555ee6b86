"""A contact's message carries the key its messenger made for it (a retry after a lost answer finds the part
instead of storing it twice): a nullable column, empty in every existing row. Its unique index: 0023."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0021_part_tag_events")]

    operations = [
        migrations.AddField(
            model_name="conversationpart",
            name="idempotency_key",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
    ]
