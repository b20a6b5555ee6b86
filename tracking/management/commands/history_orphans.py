"""manage.py history_orphans [--delete] [--batch-size N]: page views and events whose contact or session
no longer exists (docs/partitioning.md, Integrity). Exits with status 1 when it finds some and --delete
was not given, so a cron job or a deploy check can alert on it."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.commands import add_batch_size_argument, batch_size_option
from tracking.selectors import history_orphans_count
from tracking.services.integrity import DEFAULT_BATCH_SIZE, history_orphans_delete


class Command(BaseCommand):
    help = (
        "Count page views and events whose contact or session is gone (they have no database foreign key); "
        "--delete deletes them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", action="store_true", help="Delete the orphaned rows, in batches.")
        add_batch_size_argument(parser, default=DEFAULT_BATCH_SIZE, rows="Rows deleted")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = batch_size_option(options)
        if options["delete"]:
            for link, rows in sorted(history_orphans_delete(batch_size=batch_size).items()):
                self.stdout.write(f"{link}: {rows} orphaned rows deleted")
        counts = history_orphans_count()
        for link, rows in counts.items():
            self.stdout.write(f"{link}: {rows} orphaned rows")
        total = sum(counts.values())
        if total:
            raise CommandError(
                f"{total} page views or events reference a contact or session that is gone: "
                "run manage.py history_orphans --delete (docs/partitioning.md, Integrity)."
            )
