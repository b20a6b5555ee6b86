"""Page views and events become monthly partitions on PostgreSQL (docs/partitioning.md).

A new install (empty tables) or a small one is converted here, online (shadow table, trigger,
batched copy, a swap in a short lock: tracking.partitioning). A table with more than
MAX_ROWS rows is left plain, with a notice: `manage.py partition_tables` converts it online
while the app runs, and until then the app works on the plain table as before. SQLite keeps plain
tables. Going back converts small tables back to plain ones (`partition_tables --undo` for big ones).
"""

from django.db import migrations
from django.utils import timezone

from tracking import partitioning

TABLES = ("tracking_pageview", "tracking_event")
MAX_ROWS = 100_000  # a copy of seconds; docs/partitioning.md
MONTHS_AHEAD = 3


def _convert(schema_editor, *, partitioned):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    target = "partitioned" if partitioned else "plain"
    for table in TABLES:
        if partitioning.table_shape(connection, table) == target:
            continue
        if not partitioning.table_rows_at_most(connection, table, MAX_ROWS):
            command = "partition_tables" if partitioned else "partition_tables --undo"
            print(  # noqa: T201 - migrate's own output
                f"\n  {table} holds more than {MAX_ROWS} rows: left {partitioning.table_shape(connection, table)}. "
                f"Run `manage.py {command}` to convert it while Parley runs (docs/partitioning.md)."
            )
            continue
        partitioning.table_convert(
            connection, table, partitioned=partitioned, now=timezone.now(), months_ahead=MONTHS_AHEAD
        )


def partition(apps, schema_editor):
    _convert(schema_editor, partitioned=True)


def unpartition(apps, schema_editor):
    _convert(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    # The conversion commits its own short transactions (copy batches, then the swap).
    atomic = False

    dependencies = [("tracking", "0012_website_attachment_limits")]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
