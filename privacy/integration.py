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


def _scrub_erased(sender: Any, topic: str, contact: Contact, **kwargs: Any) -> None:
    """contact.deleted (inside the erase's transaction): the person's requests keep their contact id,
    kind, dates and handler under a neutral label; the requester and notes (their email, their words)
    go, and so do the admin history entries that name them, as the contacts app does for its own."""
    if topic != "contact.deleted":
        return
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    from privacy.models import DataSubjectRequest

    rows = DataSubjectRequest.objects.filter(contact_id=contact.pk)
    ids = [str(pk) for pk in rows.values_list("pk", flat=True)]
    if not ids:
        return
    rows.update(subject=f"Erased contact {contact.pk}", notes="")
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(DataSubjectRequest), object_id__in=ids
    ).delete()


def connect() -> None:
    from contacts import lifecycle
    from contacts.panels import ContactPanel, register_contact_list_filter, register_contact_panel
    from contacts.signals import contact_changed
    from privacy.admin_filters import AnalyticsConsentFilter, MarketingConsentFilter, RestrictedFilter

    lifecycle.register(lifecycle.ContactRows(app="privacy", on_merge=(_move_requests,)))
    contact_changed.connect(_scrub_erased, dispatch_uid="privacy.scrub_erased")
    for list_filter in (RestrictedFilter, AnalyticsConsentFilter, MarketingConsentFilter):
        register_contact_list_filter(list_filter)

    register_contact_panel(
        ContactPanel(
            order=85, title="Consent and requests", template="admin/privacy/contact_panel.html", rows=_consent_rows
        )
    )
