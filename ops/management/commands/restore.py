from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, database_restore


class Command(BaseCommand):
    help = "Replace the database with a backup made by `backup`. Stop web, workers and beat first."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The backup file.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, **options):
        path = Path(options["path"])
        if not options["yes"]:
            answer = input(f"This replaces everything in the database with {path}. Type 'restore' to go on: ")
            if answer.strip() != "restore":
                raise CommandError("Nothing restored.")
        try:
            database_restore(path=path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Restored {path}.")
