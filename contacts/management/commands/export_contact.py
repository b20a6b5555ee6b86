import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.outage import ServiceBehind
from contacts.management.privacy_request import add_person_arguments, find_actor, find_contacts
from contacts.models import PrivacyAuditEntry
from contacts.services import contacts_export


class Command(BaseCommand):
    help = (
        "GDPR export: print one JSON document with everything Parley holds about a person "
        "(a JSON list of documents with --all). The privacy audit log records the export."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_person_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = find_actor(options)
        try:  # every document read before the audit log records any (contacts_export)
            documents = contacts_export(
                contacts=list(find_contacts(options)), actor=actor, source=PrivacyAuditEntry.Source.COMMAND
            )
        except ServiceBehind as behind:  # the workers far behind: what is still queued would be missing
            raise CommandError(f"Parley is catching up ({behind}); nothing was exported. Try again shortly.") from None
        payload = documents if options.get("all") else documents[0]
        self.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
