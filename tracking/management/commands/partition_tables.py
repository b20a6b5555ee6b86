"""manage.py partition_tables [--dry-run | --undo | --abort] [--batch-size N]: monthly partitions for
page views and events on PostgreSQL, converted online while Parley runs (docs/partitioning.md)."""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from common.commands import add_batch_size_argument, batch_size_option
from tracking import partitioning
from tracking.services import partitions

PROGRESS_EVERY_ROWS = 100_000


class Command(BaseCommand):
    help = (
        "Convert page views and events to monthly partitions (PostgreSQL) while Parley keeps running: "
        "a copy with a trigger, batches, a check, then a swap in a short lock."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Say what would be done; change nothing.")
        parser.add_argument("--undo", action="store_true", help="Convert back to plain tables (online as well).")
        parser.add_argument(
            "--abort",
            action="store_true",
            help="Drop the copy a stopped conversion left (the tables stay as they are).",
        )
        add_batch_size_argument(parser, default=partitioning.DEFAULT_BATCH_SIZE, rows="Rows copied")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = batch_size_option(options)
        if options["abort"] and (options["dry_run"] or options["undo"]):
            raise CommandError("--abort goes alone (--dry-run may go with --undo).")
        vendor = {connections[model.objects.db].vendor for model in partitions.HISTORY_MODELS}
        if vendor != {"postgresql"}:
            raise CommandError(
                "Partitioned tables need PostgreSQL (DATABASE_URL=postgres://…); the embedded SQLite database "
                "keeps plain tables."
            )
        try:
            if options["abort"]:
                self._abort()
            elif options["dry_run"]:
                self._plan(partitioned=not options["undo"])
            else:
                self._convert(partitioned=not options["undo"], batch_size=batch_size)
        except partitioning.PartitioningError as error:
            raise CommandError(str(error)) from error
        except DatabaseError as error:
            raise CommandError(f"The database refused: {error}".strip()) from error

    def _plan(self, *, partitioned: bool) -> None:
        target = "partitioned" if partitioned else "plain"
        for status in partitions.history_tables_status():
            months = ", ".join(p.name for p in status.partitions if not p.is_default) or "none"
            self.stdout.write(f"{status.table}: {status.shape}; monthly partitions: {months}")
            if status.conversion_in_progress:
                self.stdout.write("  a conversion was stopped half-way: a run carries on from where it stopped.")
            if status.shape == target:
                self.stdout.write(f"  already {target}: nothing to do.")
            elif status.shape == "missing":
                self.stdout.write("  missing: run manage.py migrate first.")
            else:
                self.stdout.write(f"  would be converted to {target} online (dry run: nothing changed).")

    def _abort(self) -> None:
        aborted = partitions.history_conversion_abort()
        self.stdout.write(f"Dropped the copy of {', '.join(aborted)}." if aborted else "No conversion to abort.")

    def _convert(self, *, partitioned: bool, batch_size: int) -> None:
        reported: dict[str, int] = {}

        def progress(table: str, rows: int) -> None:
            if rows - reported.get(table, 0) >= PROGRESS_EVERY_ROWS:
                reported[table] = rows
                self.stderr.write(f"{table}: {rows} rows copied…")
                sys.stderr.flush()

        for result in partitions.history_tables_convert(
            partitioned=partitioned, batch_size=batch_size, on_batch=progress
        ):
            if result.rows or result.seconds > 1:
                self.stdout.write(
                    f"{result.table}: {result.shape} ({result.rows} rows copied in {result.seconds:.1f} s)."
                )
            else:
                self.stdout.write(f"{result.table}: {result.shape}.")
