"""The contacts app's own rows in the contact lifecycle (the other apps declare theirs the same way)."""

from contacts import lifecycle, services
from contacts.models import ContactNote, ContactTag


def connect() -> None:
    lifecycle.register(
        lifecycle.ContactRows(
            app="contacts",
            merge={ContactTag: services.contact_tags_merge},
            export=(
                lifecycle.ExportSection("tags", services.contact_tags_export, models=(ContactTag,)),
                lifecycle.ExportSection("notes", services.contact_notes_export, models=(ContactNote,)),
            ),
        )
    )
