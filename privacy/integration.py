"""How the privacy app plugs into contacts: the contact page's "Consent and requests" panel."""

from typing import Any

from contacts.models import Contact


def _consent_rows(contact: Contact) -> dict[str, Any]:
    from privacy.selectors import data_subject_requests_for_contact

    # One query (the contact's requests); the consent state is on the row already.
    return {"contact": contact, "requests": data_subject_requests_for_contact(contact_id=contact.pk)}


def connect() -> None:
    from contacts.panels import ContactPanel, register_contact_list_filter, register_contact_panel
    from privacy.admin_filters import AnalyticsConsentFilter, MarketingConsentFilter, RestrictedFilter

    for list_filter in (RestrictedFilter, AnalyticsConsentFilter, MarketingConsentFilter):
        register_contact_list_filter(list_filter)

    register_contact_panel(
        ContactPanel(
            order=85, title="Consent and requests", template="admin/privacy/contact_panel.html", rows=_consent_rows
        )
    )
