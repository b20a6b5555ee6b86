import sys
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from retention import services
from retention.models import RetentionRun

PROGRESS_BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Delete anonymous visitors not seen for the retention policy's TTL, with their whole history, "
        "in batches (one transaction each). --rules applies the optional rules instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=services.DEFAULT_BATCH_SIZE,
            help=f"Rows per batch and transaction (default {services.DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--pause", type=float, default=0.0, help="Seconds to wait between batches, to spare a busy database."
        )
        parser.add_argument(
            "--rules", action="store_true", help="Apply the optional rules (leads, closed conversations, tracking)."
        )

    def handle(self, *args: object, **options: object) -> None:
        batch_size = options["batch_size"]
        pause = float(options["pause"])  # type: ignore[arg-type]
        if pause < 0:
            raise CommandError("--pause must be zero or more seconds.")
        self._started = time.monotonic()
        self._tty = sys.stdout.isatty() and self.stdout._out is sys.stdout  # type: ignore[attr-defined]
        self._last_percent = -1
        service = services.retention_rules_apply if options["rules"] else services.visitors_expire
        try:
            run = service(
                dry_run=bool(options["dry_run"]),
                batch_size=batch_size,  # type: ignore[arg-type]
                trigger="command",
                pause_seconds=pause,
                on_batch=self._progress,
            )
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"--{k.replace('_', '-')}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from None
        if self._tty:
            self.stdout.write("")
        if run is None:
            what = "optional rules are all switched off" if options["rules"] else "visitor expiry is disabled"
            self.stdout.write(f"Nothing to do: {what} in the retention policy.")
            return
        self._summary(run)

    def _progress(self, progress: services.BatchProgress) -> None:
        done, total = progress.rows_done, progress.rows_estimated or 0
        percent = min(100, done * 100 // total) if total else 100
        bar = "#" * (percent * PROGRESS_BAR_WIDTH // 100)
        line = (
            f"{progress.rule}: [{bar:<{PROGRESS_BAR_WIDTH}}] {percent:3d}% {done:,}/{total:,} "
            f"batch {progress.run.batches} {time.monotonic() - self._started:.1f}s"
        )
        if self._tty:
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
        elif percent != self._last_percent:  # logs and pipes: one line per percent at most
            self.stdout.write(line)
        self._last_percent = percent

    def _summary(self, run: RetentionRun) -> None:
        elapsed = time.monotonic() - self._started
        verb = "Would delete" if run.dry_run else "Deleted"
        subject = "stale visitors" if run.kind == RetentionRun.Kind.VISITORS else "rows under the optional rules"
        self.stdout.write(
            f"{verb} {subject}" + (f" (last seen before {run.cutoff:%Y-%m-%d %H:%M} UTC)" if run.cutoff else "") + ":"
        )
        width = max([len(label) for label in run.counts] + [len("total")])
        for label, count in sorted(run.counts.items()):
            self.stdout.write(f"  {label:<{width}}  {count:>10,}")
        self.stdout.write(f"  {'total':<{width}}  {run.rows_deleted:>10,}")
        note = " Dry run: nothing was deleted." if run.dry_run else ""
        self.stdout.write(
            self.style.SUCCESS(f"Retention run {run.pk} {run.status} in {elapsed:.1f}s, {run.batches} batch(es).{note}")
        )
