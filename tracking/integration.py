"""How the tracking app plugs into contacts: its rows in the contact lifecycle (merge, GDPR export, erase clean-up),
and the contacts admin's activity panels and list filters (registered in contacts/panels.py).

Wired once, from TrackingConfig.ready().
"""

import weakref
from typing import Any

from django.db import transaction
from django.urls import reverse

from contacts import lifecycle
from contacts.models import Contact
from tracking import page_view_buffer
from tracking.models import Event, EventSummary, PageView, WebSession
from tracking.selectors import contact_tracking_activity, export_rows, page_views_for_company_panel
from tracking.services.events import event_summary_upsert
from tracking.services.hot_path import hot_path_forget, hot_path_snapshot_forget


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


def _merge_page_views(source: Contact, into: Contact) -> None:
    """Move page views, the source's sessions locked first: a page view being written holds its
    session's row (ingest, the buffer's flush), so it has committed before the move reads, or waits and
    then finds its session moved. Otherwise it could land on the source after the move and go with it."""
    list(WebSession.objects.filter(contact=source).order_by("pk").select_for_update().values_list("pk", flat=True))
    PageView.objects.filter(contact=source).update(contact=into)


def _merge_sessions(source: Contact, into: Contact) -> None:
    # In the merge's transaction: a flush after the commit finds where the source's queued rows go (one
    # that rolls back leaves the source in place, and no mark).
    page_view_buffer.merged_mark(source_id=source.pk, into_id=into.pk)
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


def _forget_erased_contact(contact_id: int) -> None:
    """Erase hook, once the erase has committed: the hot-path entry (name, email, ids) leaves the
    cache, the contact is marked gone, and a flush takes its queued page views out of Redis."""
    hot_path_forget(contact_id)
    page_view_buffer.page_views_flush_soon()  # its queued page views leave Redis now


def _forget_snapshot(contact_id: int) -> None:
    """Privacy-change hook: the widget's cached snapshot of the contact goes, so the next ping reads
    the restriction (or its lifting) from the row instead of up to a minute later."""
    hot_path_snapshot_forget(contact_id)


def _changelist(model: type, contact: Contact) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + f"?contact__id__exact={contact.pk}"


# The contact page's panels share one query: its result is kept for the Contact instance the page
# renders (by identity: another instance of the same contact is another page), without sticking an
# attribute onto it; an entry goes with its instance.
_activity_by_instance: dict[int, tuple[weakref.ref[Contact], dict[str, list[Any]]]] = {}


def _activity(contact: Contact) -> dict[str, list[Any]]:
    key = id(contact)
    kept = _activity_by_instance.get(key)
    if kept is not None and kept[0]() is contact:
        return kept[1]
    activity = contact_tracking_activity(contact=contact)
    _activity_by_instance[key] = (weakref.ref(contact, lambda _: _activity_by_instance.pop(key, None)), activity)
    return activity


def _page_views_panel(contact: Contact) -> dict[str, Any]:
    return {
        "items": _activity(contact)["page_views"],
        "all_url": _changelist(PageView, contact),
    }


def _sessions_panel(contact: Contact) -> dict[str, Any]:
    return {
        "items": _activity(contact)["sessions"],
        "all_url": _changelist(WebSession, contact),
    }


def _events_panel(contact: Contact) -> dict[str, Any]:
    """One panel for events: the totals per name, then the most recent ones."""
    activity = _activity(contact)
    return {"summaries": activity["summaries"], "items": activity["events"], "all_url": _changelist(Event, contact)}


def _connect_admin() -> None:
    from companies.panels import CompanyPanel, register_company_panel
    from contacts.panels import ContactPanel, register_contact_list_filter, register_contact_panel
    from tracking.admin_filters import EventNameFilter, LiveNowFilter, SeenWithinDaysFilter

    # The three panels share one query (selectors.contact_tracking_activity).
    for panel in (
        ContactPanel(order=10, title="Recent page views", template="admin/tracking/panels/page_views.html",
                     rows=_page_views_panel),
        ContactPanel(order=11, title="Web sessions", template="admin/tracking/panels/sessions.html",
                     rows=_sessions_panel),
        ContactPanel(order=12, title="Events", template="admin/tracking/panels/events.html", rows=_events_panel),
    ):  # fmt: skip
        register_contact_panel(panel)
    register_contact_list_filter(LiveNowFilter)
    register_company_panel(
        CompanyPanel(order=30, title="Their recent page views", template="admin/tracking/panels/company_page_views.html",
                     rows=page_views_for_company_panel)
    )  # fmt: skip
    register_contact_list_filter(SeenWithinDaysFilter)
    register_contact_list_filter(EventNameFilter)


def connect() -> None:
    """Called from TrackingConfig.ready(): tracking's rows in the contact lifecycle (merge, export,
    erase clean-up) and the contacts admin's panels."""
    lifecycle.register(
        lifecycle.ContactRows(
            app="tracking",
            merge={
                EventSummary: _merge_event_summaries,
                Event: _merge_events,
                PageView: _merge_page_views,
                WebSession: _merge_sessions,
            },
            export=(
                lifecycle.ExportSection("web_sessions", _export_sessions, models=(WebSession,)),
                lifecycle.ExportSection("page_views", _export_page_views, models=(PageView,)),
                lifecycle.ExportSection("events", _export_events, models=(Event,)),
            ),
            not_exported={
                "tracking.EventSummary": "counts derived from the events, which are exported one by one",
                "tracking.MergedContact": "the id of a contact merged into this one, kept a day to route its queued "
                "page views (the merged contact's history is exported as this one's)",
            },
            on_erase=(_forget_erased_contact,),
            on_privacy_change=(_forget_snapshot,),
        )
    )
    _connect_admin()
