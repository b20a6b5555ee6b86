"""How the tracking app plugs into the contacts admin: the contact page's activity panels and the
contact list's "event" and "seen in the last N days" filters (all registered in contacts/panels.py)."""

from typing import Any

from django.urls import reverse

from contacts.models import Contact


def _changelist(model: type, contact: Contact) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + f"?contact__id__exact={contact.pk}"


def _activity(contact: Contact) -> dict[str, Any]:
    from tracking import selectors

    return selectors.contact_tracking_activity(contact=contact)


def _page_views_panel(contact: Contact) -> dict[str, Any]:
    from tracking.models import PageView

    return {"items": _activity(contact)["page_views"], "all_url": _changelist(PageView, contact)}


def _sessions_panel(contact: Contact) -> dict[str, Any]:
    from tracking.models import WebSession

    return {"items": _activity(contact)["sessions"], "all_url": _changelist(WebSession, contact)}


def _events_panel(contact: Contact) -> dict[str, Any]:
    """One panel for events: the totals per name, then the most recent ones."""
    from tracking.models import Event

    activity = _activity(contact)
    return {"summaries": activity["summaries"], "items": activity["events"], "all_url": _changelist(Event, contact)}


def connect() -> None:
    from contacts.panels import ContactPanel, register_contact_list_filter, register_contact_panel
    from tracking.admin_filters import EventNameFilter, SeenWithinDaysFilter

    # The three panels share one query (selectors.contact_tracking_activity).
    for panel in (
        ContactPanel(order=10, title="Recent page views", template="admin/tracking/panels/page_views.html",
                     rows=_page_views_panel),
        ContactPanel(order=11, title="Web sessions", template="admin/tracking/panels/sessions.html",
                     rows=_sessions_panel),
        ContactPanel(order=12, title="Events", template="admin/tracking/panels/events.html", rows=_events_panel),
    ):  # fmt: skip
        register_contact_panel(panel)
    register_contact_list_filter(SeenWithinDaysFilter)
    register_contact_list_filter(EventNameFilter)
