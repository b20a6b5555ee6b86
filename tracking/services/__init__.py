"""Every write of the tracking app: websites, the widget ingest (identity, hot-path state, sessions
and page views), events. One module per concern; the names others use are re-exported here."""

from tracking.services.events import event_summary_add, event_track, widget_event
from tracking.services.hot_path import RequestFacts, WidgetTokenInvalid
from tracking.services.identity import IdentityVerificationFailed, user_hash_valid
from tracking.services.ingest import (
    COMPANY_IGNORED_PREFIX,
    WidgetAnswer,
    contact_seen_writing,
    fast_ticket_offer,
    widget_ping,
    widget_shutdown,
    widget_update,
)
from tracking.services.websites import (
    rejected_attributes_record,
    website_create,
    website_identity_secret_rotate,
    website_origins_clean,
    website_update,
)

__all__ = [
    "COMPANY_IGNORED_PREFIX",
    "IdentityVerificationFailed",
    "RequestFacts",
    "WidgetAnswer",
    "WidgetTokenInvalid",
    "contact_seen_writing",
    "event_summary_add",
    "event_track",
    "fast_ticket_offer",
    "rejected_attributes_record",
    "user_hash_valid",
    "website_create",
    "website_identity_secret_rotate",
    "website_origins_clean",
    "website_update",
    "widget_event",
    "widget_ping",
    "widget_shutdown",
    "widget_update",
]
