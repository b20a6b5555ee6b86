import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import ngettext

from reports import services

MAX_DAYS = services.BACKFILL_DAYS


class Command(BaseCommand):
    help = (
        "Recompute the reports' daily rollups of the last N days from the raw rows (after an upgrade, or a "
        "change of PARLEY_REPORTS_TIME_ZONE), one transaction per day, and count contacts again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=90, help=f"How many days back, 1 to {MAX_DAYS} (default 90).")

    def handle(self, *args: object, **options: object) -> None:
        days = options["days"]
        if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be a whole number from 1 to {MAX_DAYS}.")
        started = time.monotonic()
        done = services.reports_rebuild(days=days)
        recomputed = ngettext("%(count)d day", "%(count)d days", len(done)) % {"count": len(done)}
        self.stdout.write(f"Recomputed {recomputed} ({done[-1]} to {done[0]}) in {time.monotonic() - started:.1f}s.")
