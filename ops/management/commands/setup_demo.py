import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from contacts.models import Contact
from tracking.models import Website
from tracking.services import website_create

DEMO_USERNAME = "admin"
DEMO_WEBSITE_NAME = "Demo shop"


class Command(BaseCommand):
    help = "First-run setup for `make run`: demo superuser, demo website and demo data (once)."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=2000)

    def handle(self, *args, **options):
        password_file = settings.VAR_DIR / "demo-admin-password"
        User = get_user_model()
        if not User.objects.filter(username=DEMO_USERNAME).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(DEMO_USERNAME, "admin@parley.localhost", password)
            password_file.write_text(password)
            password_file.chmod(0o600)
        password = password_file.read_text().strip() if password_file.exists() else "(set earlier; see createsuperuser)"
        website = Website.objects.filter(name=DEMO_WEBSITE_NAME).first() or website_create(
            name=DEMO_WEBSITE_NAME,
            allowed_origins=[settings.PUBLIC_URL, "http://localhost:8000", "http://127.0.0.1:8000"],
            identity_verification=Website.IdentityVerification.ENFORCED,  # the logged-in demo signs its user_hash
        )
        if not Contact.objects.exists():
            call_command("seed_demo", contacts=options["contacts"], seed=42, stdout=self.stdout)
        base = settings.PUBLIC_URL
        self.stdout.write("")
        self.stdout.write(f"  Admin:     {base}/admin/   login: {DEMO_USERNAME}   password: {password}")
        self.stdout.write(f"  Demo page: {base}/demo/    (app id {website.app_id})")
        if not settings.PARLEY_DEMO_PAGES:
            self.stdout.write("             served when PARLEY_DEMO_PAGES=true (`make run` sets it)")
        self.stdout.write(f"  API docs:  {base}/api/docs/")
        self.stdout.write("")
