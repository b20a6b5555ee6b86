"""`manage.py attachments_sweep [--dry-run]`: delete stored attachment files that no row names any more."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import ngettext

from conversations.services.attachments import attachment_orphans_delete


class Command(BaseCommand):
    help = (
        "Delete attachment files in storage that no attachment row names (left by a crash between a deletion's "
        "commit and its files' removal), older than an hour. --dry-run only counts them."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count the files, delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        count = attachment_orphans_delete(dry_run=options["dry_run"])
        verb = "Would delete" if options["dry_run"] else "Deleted"
        files = ngettext("%(count)d stored file", "%(count)d stored files", count) % {"count": count}
        self.stdout.write(f"{verb} {files} that no attachment names.")
