import importlib
import random
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

# Each app adds its demo rows in `<app>.demo.seed_for_contacts(contact_ids=..., rng=...)`, in this order
# (reports last: its rollups count what the others seeded).
DEMO_APPS = ("tracking", "companies", "conversations", "retention", "reports")


class Command(BaseCommand):
    help = "Fill the database with realistic demo data across all apps (bulk inserts)."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=2000, help="How many contacts to create.")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for repeatable data.")

    def handle(self, *args, **options):
        from contacts import demo

        count = options["contacts"]
        if count < 0:
            raise CommandError("--contacts must be zero or more.")
        rng = random.Random(options["seed"])  # noqa: S311 - demo data, not security
        started = time.monotonic()
        with transaction.atomic():
            ids = demo.seed(contacts=count, rng=rng)
            for app in DEMO_APPS:
                try:
                    module = importlib.import_module(f"{app}.demo")
                except ModuleNotFoundError:
                    continue
                module.seed_for_contacts(contact_ids=ids, rng=rng)
        self.stdout.write(f"Seeded {len(ids)} contacts in {time.monotonic() - started:.1f}s.")
