from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.management.privacy_request import add_person_arguments, find_actor, find_contacts
from contacts.models import PrivacyAuditEntry
from contacts.services import contact_erase


class Command(BaseCommand):
    help = (
        "GDPR erase: delete a person and everything Parley holds about them (sessions, page views, events, "
        "conversations, messages, tags). The privacy audit log keeps only the contact id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_person_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = find_actor(options)
        for contact in find_contacts(options):
            contact_id = contact.pk
            try:
                counts = contact_erase(contact=contact, actor=actor, source=PrivacyAuditEntry.Source.COMMAND)
            except ValidationError as error:
                raise CommandError(f"Contact {contact_id} was not erased: {' '.join(error.messages)}") from None
            history = sum(count for label, count in counts.items() if label != "contacts.Contact")
            details = ", ".join(f"{label} {count}" for label, count in sorted(counts.items()))
            self.stdout.write(
                self.style.SUCCESS(f"Erased contact {contact_id} and {history} row(s) of history ({details}).")
            )
