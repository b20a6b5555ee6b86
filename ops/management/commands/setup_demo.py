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


class Command(BaseCommand):
    help = "First-run setup for `make run`: demo superuser, demo website and demo data (once)."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=2000)

    def handle(self, *args, **options):
        password_file = settings.VAR_DIR / "demo-admin-password"
        User = get_user_model()
        if not User.objects.filter(username=DEMO_USERNAME).exists():
            password = secrets.token_urlsafe(12)
            admin = User.objects.create_superuser(DEMO_USERNAME, "admin@parley.localhost", password)
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
        """The demo website, allowed on this run's port too (`make run PORT=…`)."""
        port = urlsplit(settings.PUBLIC_URL).port or 80
        origins = [settings.PUBLIC_URL, f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
        website = Website.objects.filter(name=DEMO_WEBSITE_NAME).first()
        if website is None:
            return website_create(
                name=DEMO_WEBSITE_NAME,
                allowed_origins=origins,
                identity_verification=Website.IdentityVerification.ENFORCED,  # the logged-in demo signs its user_hash
                # The demo's in-app messages reach its visitors (the demo page says why): a new website's
                # default ("Consent") would skip every visitor who has not agreed to marketing.
                marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST,
            )
            # The demo shows conversation ratings (CSAT): a teammate who closes a conversation gets one asked.
            website = website_update(website=website, conversation_ratings_enabled=True)
        if not set(website_origins_clean(origins=origins)) <= set(website.allowed_origins):
            website = website_update(website=website, allowed_origins=[*website.allowed_origins, *origins])
        if website.identity_verification != Website.IdentityVerification.ENFORCED:
            # A demo set up before verification was the default: its logged-in page says it signs in for real.
            website = website_update(website=website, identity_verification=Website.IdentityVerification.ENFORCED)
        if website.marketing_basis != Website.MarketingBasis.LEGITIMATE_INTEREST:
            # A demo set up before the privacy kit: its in-app journey would show nothing.
            website = website_update(website=website, marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST)
        return website
