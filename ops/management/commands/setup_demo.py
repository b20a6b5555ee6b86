import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from contacts.models import Contact
from conversations.services import teammate_profile_update
from ops.demo import DEMO_TEAMMATE_NAME, DEMO_USERNAME, demo_banner
from tracking.models import Website
from tracking.services import website_create, website_origins_clean, website_update
from widget.selectors import DEMO_WEBSITE_NAME

DEMO_SETTINGS = {
    # The logged-in demo signs its user_hash and says it signs in for real.
    "identity_verification": Website.IdentityVerification.ENFORCED,
    # The demo's in-app messages reach its visitors (the demo page says why): a new website's default ("Consent")
    # would skip every visitor who has not agreed to marketing.
    "marketing_basis": Website.MarketingBasis.LEGITIMATE_INTEREST,
    # The demo records page views from the first one (analytics default: Full tracking); its record of processing
    # says so, and the website's page does not warn of a mismatch on every save.
    "analytics_basis": Website.AnalyticsBasis.LEGITIMATE_INTEREST,
}


class Command(BaseCommand):
    help = "First-run setup for `make run`: demo superuser, demo website and demo data (once)."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=2000)

    def handle(self, *args, **options):
        password_file = settings.VAR_DIR / "demo-admin-password"
        User = get_user_model()
        if not User.objects.filter(username=DEMO_USERNAME).exists():
            password = secrets.token_urlsafe(12)
            admin = User.objects.create_superuser(
                DEMO_USERNAME, "admin@parley.localhost", password, first_name=DEMO_TEAMMATE_NAME
            )
            password_file.write_text(password)
            password_file.chmod(0o600)
            # Visitors see the teammate's display name: a person, not the login "admin".
            teammate_profile_update(teammate=admin, display_name=DEMO_TEAMMATE_NAME)
        website = self._demo_website()
        if not Contact.objects.exists():
            call_command("seed_demo", contacts=options["contacts"], seed=42, stdout=self.stdout)
        self.stdout.write("")
        for line in demo_banner(app_id=website.app_id):
            self.stdout.write(line)
        self.stdout.write("")

    def _demo_website(self) -> Website:
        """The demo website, allowed on this run's port too (`make run PORT=…`), with the demo's settings: a demo
        set up by an earlier version is brought to them."""
        port = urlsplit(settings.PUBLIC_URL).port or 80
        origins = [settings.PUBLIC_URL, f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
        website = Website.objects.filter(name=DEMO_WEBSITE_NAME).first()
        if website is None:
            website = website_create(name=DEMO_WEBSITE_NAME, allowed_origins=origins)
            # The demo shows conversation ratings (CSAT): a teammate who closes a conversation gets one asked.
            website = website_update(website=website, conversation_ratings_enabled=True)
        changes = {name: value for name, value in DEMO_SETTINGS.items() if getattr(website, name) != value}
        if not set(website_origins_clean(origins=origins)) <= set(website.allowed_origins):
            changes["allowed_origins"] = [*website.allowed_origins, *origins]
        return website_update(website=website, **changes) if changes else website
