"""How the tracking app plugs into contacts: merge handlers, GDPR export sections, erase clean-up,
and the contacts admin's activity panels and list filters (registered in contacts/panels.py).

Wired once, from TrackingConfig.ready().
"""

from typing import Any

from django.db import transaction
from django.urls import reverse

from contacts import services as contacts_services
from contacts.models import Contact
from tracking import page_view_buffer
from tracking.models import Event, EventSummary, PageView, WebSession
from tracking.selectors import contact_tracking_activity, export_rows
from tracking.services.events import event_summary_upsert
from tracking.services.hot_path import hot_path_forget


def _merge_event_summaries(source: Contact, into: Contact) -> None:
    """Counts add up, first is the earliest and last the latest of both."""
    for summary in EventSummary.objects.filter(contact=source):
        event_summary_upsert(
            contact_id=into.pk,
            name=summary.name,
            count=summary.count,
            first_at=summary.first_at,
            last_at=summary.last_at,
        )
    EventSummary.objects.filter(contact=source).delete()


def _merge_events(source: Contact, into: Contact) -> None:
    """Move events; a client-timestamped event that both contacts hold is kept once."""
    duplicates = Event.objects.filter(
        contact=source,
        client_timestamp=True,
        name__in=Event.objects.filter(contact=into, client_timestamp=True).values("name"),
    )
    into_keys = set(
        Event.objects.filter(contact=into, client_timestamp=True, name__in=duplicates.values("name")).values_list(
            "name", "created_at"
        )
    )
    clash_ids = [pk for pk, name, at in duplicates.values_list("pk", "name", "created_at") if (name, at) in into_keys]
    Event.objects.filter(pk__in=clash_ids).delete()
    Event.objects.filter(contact=source).update(contact=into)


def _merge_sessions(source: Contact, into: Contact) -> None:
    WebSession.objects.filter(contact=source).update(contact=into)
    source_id = source.pk
    transaction.on_commit(lambda: hot_path_forget(source_id))  # drops its hot-path entry too


def _export_sessions(contact: Contact) -> list[dict[str, Any]]:
    page_view_buffer.page_views_flush_before_reading()  # an export holds the queued page views too
    fields = [
        "started_at", "last_activity_at", "page_views_count", "landing_url", "referrer", "utm_source",
        "utm_medium", "utm_campaign", "utm_term", "utm_content", "os", "browser", "browser_version",
        "browser_language", "city", "country", "country_name",
    ]  # fmt: skip
    return export_rows(WebSession.objects.filter(contact=contact).order_by("started_at"), fields)


def _export_page_views(contact: Contact) -> list[dict[str, Any]]:
    page_view_buffer.page_views_flush_before_reading()
    return export_rows(
        PageView.objects.filter(contact=contact).order_by("created_at"), ["created_at", "url", "title", "referrer"]
    )


def _export_events(contact: Contact) -> list[dict[str, Any]]:
    return export_rows(Event.objects.filter(contact=contact).order_by("created_at"), ["created_at", "name", "metadata"])


def _forget_erased_contact(topic: str, instance: Any) -> None:
    """Once an erase commits: the hot-path entry (name, email, ids) leaves the cache, the contact is
    marked gone, and a flush takes its queued page views out of Redis."""
    if topic == "contact.deleted":
        contact_id = instance.pk

        def forget() -> None:
            hot_path_forget(contact_id)
            page_view_buffer.page_views_flush_soon()  # its queued page views leave Redis now

        transaction.on_commit(forget)


def _changelist(model: type, contact: Contact) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + f"?contact__id__exact={contact.pk}"


def _page_views_panel(contact: Contact) -> dict[str, Any]:
    return {
        "items": contact_tracking_activity(contact=contact)["page_views"],
        "all_url": _changelist(PageView, contact),
    }


def _sessions_panel(contact: Contact) -> dict[str, Any]:
    return {
        "items": contact_tracking_activity(contact=contact)["sessions"],
        "all_url": _changelist(WebSession, contact),
    }


def _events_panel(contact: Contact) -> dict[str, Any]:
    """One panel for events: the totals per name, then the most recent ones."""
    activity = contact_tracking_activity(contact=contact)
    return {"summaries": activity["summaries"], "items": activity["events"], "all_url": _changelist(Event, contact)}


def _connect_admin() -> None:
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


def connect() -> None:
    """Called from TrackingConfig.ready(): merge handlers, GDPR export sections, erase clean-up, admin panels."""
    contacts_services.register_change_listener(_forget_erased_contact)
    contacts_services.register_merge_handler(EventSummary, _merge_event_summaries)
    contacts_services.register_merge_handler(Event, _merge_events)
    contacts_services.register_merge_handler(WebSession, _merge_sessions)
    contacts_services.register_export_section("web_sessions", _export_sessions, rows_of=(WebSession,))
    contacts_services.register_export_section("page_views", _export_page_views, rows_of=(PageView,))
    contacts_services.register_export_section("events", _export_events, rows_of=(Event,))
    _connect_admin()
