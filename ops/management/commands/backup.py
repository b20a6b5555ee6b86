from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, backup_default_path, database_backup


class Command(BaseCommand):
    help = "Back up the database (pg_dump, or SQLite's online backup); prints the file as the last line."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="Where to write it (default: var/backups/parley-<time>.*).")

    def handle(self, *args, **options):
        path = Path(options["path"]) if options["path"] else backup_default_path()
        try:
            written = database_backup(path=path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(str(written))
