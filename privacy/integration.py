"""How the privacy app plugs into contacts: its requests follow a merge, and the contact page's
"Consent and requests" panel."""

from typing import Any

from contacts.models import Contact


def _consent_rows(contact: Contact) -> dict[str, Any]:
    from privacy.selectors import data_subject_requests_for_contact

    # One query (the contact's requests); the consent state is on the row already.
    return {"contact": contact, "requests": data_subject_requests_for_contact(contact_id=contact.pk)}


def _move_requests(source_id: int, into_id: int) -> None:
    """Merge hook: the merged-away contact's requests now name the surviving contact."""
    from privacy.models import DataSubjectRequest

    DataSubjectRequest.objects.filter(contact_id=source_id).update(contact_id=into_id)


def connect() -> None:
    from contacts import lifecycle
    from contacts.panels import ContactPanel, register_contact_panel

    lifecycle.register(lifecycle.ContactRows(app="privacy", on_merge=(_move_requests,)))

    register_contact_panel(
        ContactPanel(
            order=85, title="Consent and requests", template="admin/privacy/contact_panel.html", rows=_consent_rows
        )
    )
