from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tracking.models import Website
from tracking.services import website_create


class Command(BaseCommand):
    help = "Register a website that embeds the widget; prints its app id as the last line."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--origin", action="append", required=True, help="Allowed origin; repeat for more.")
        parser.add_argument("--identity-verification", choices=Website.IdentityVerification.values, default="enforced")
        parser.add_argument("--tracking-mode", choices=Website.TrackingMode.values, default="full")

    def handle(self, *args, **options):
        try:
            website = website_create(
                name=options["name"],
                allowed_origins=options["origin"],
                identity_verification=options["identity_verification"],
                tracking_mode=options["tracking_mode"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"Created website {website.name}; identity secret: {website.identity_secret}")
        self.stdout.write(website.app_id)
