from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.services import api_token_create_for_username


class Command(BaseCommand):
    help = "Create an API token for a staff user; prints the token as the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to recognise the token by.")

    def handle(self, *args, **options):
        try:
            token, raw = api_token_create_for_username(username=options["username"], name=options["name"])
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"Token {token.prefix}… for {token.user}; it is shown only now:")
        self.stdout.write(raw)
