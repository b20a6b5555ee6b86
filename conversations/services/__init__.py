"""Every write to conversations, parts, outbound messages and saved replies goes through these functions."""

from conversations.services.in_app import in_app_message_mark_seen, in_app_message_reply, in_app_messages_pending
from conversations.services.inbound import email_reply_receive
from conversations.services.macros import macro_run
from conversations.services.mentions import mention_email_if_away, mentions_mark_read
from conversations.services.office_hours import office_schedule_save
from conversations.services.outbound import (
    conversation_reply_email_if_unread,
    conversation_reply_email_send,
    delivery_record_click,
    delivery_record_open,
    delivery_record_unsubscribe,
    message_deliver_batch,
    message_send,
    messages_reclaim_stalled,
)
from conversations.services.placeholders import placeholders_render
from conversations.services.presence import conversation_presence
from conversations.services.ratings import (
    RatingClosed,
    conversation_rating_email_send,
    conversation_rating_give,
    rating_status,
)
from conversations.services.routing import (
    assignment_rule_save,
    conversation_route,
    rule_preview,
    team_round_robin_pick,
    teammate_away_set,
)
from conversations.services.saved_replies import saved_reply_create, saved_reply_update, saved_reply_validate
from conversations.services.sla import conversation_sla_refresh, sla_breaches_record
from conversations.services.teammates import (
    assignee_email_if_away,
    teammate_mark_active,
    teammate_profile_update,
    teammate_profiles_ensure,
)
from conversations.services.threads import (
    contacts_touch_messaging,
    conversation_add_note,
    conversation_assign,
    conversation_assign_with_note,
    conversation_close,
    conversation_delete,
    conversation_mark_read,
    conversation_reopen,
    conversation_reply_and_close,
    conversation_reply_as_contact,
    conversation_reply_as_teammate,
    conversation_set_priority,
    conversation_snooze,
    conversation_start_by_contact,
    conversation_start_by_teammate,
    conversation_tag,
    conversation_untag,
    conversation_update,
    conversations_reopen_due_snoozes,
    message_resent,
    message_resent_first,
)

__all__ = [
    "RatingClosed",
    "assignee_email_if_away",
    "assignment_rule_save",
    "contacts_touch_messaging",
    "conversation_add_note",
    "conversation_assign",
    "conversation_assign_with_note",
    "conversation_close",
    "conversation_delete",
    "conversation_mark_read",
    "conversation_presence",
    "conversation_rating_email_send",
    "conversation_rating_give",
    "conversation_reopen",
    "conversation_reply_and_close",
    "conversation_reply_as_contact",
    "conversation_reply_as_teammate",
    "conversation_reply_email_if_unread",
    "conversation_reply_email_send",
    "conversation_route",
    "conversation_set_priority",
    "conversation_sla_refresh",
    "conversation_snooze",
    "conversation_start_by_contact",
    "conversation_start_by_teammate",
    "conversation_tag",
    "conversation_untag",
    "conversation_update",
    "conversations_reopen_due_snoozes",
    "delivery_record_click",
    "delivery_record_open",
    "delivery_record_unsubscribe",
    "email_reply_receive",
    "in_app_message_mark_seen",
    "in_app_message_reply",
    "in_app_messages_pending",
    "macro_run",
    "mention_email_if_away",
    "mentions_mark_read",
    "message_deliver_batch",
    "message_resent",
    "message_resent_first",
    "message_send",
    "messages_reclaim_stalled",
    "office_schedule_save",
    "placeholders_render",
    "rating_status",
    "rule_preview",
    "saved_reply_create",
    "saved_reply_update",
    "saved_reply_validate",
    "sla_breaches_record",
    "team_round_robin_pick",
    "teammate_away_set",
    "teammate_mark_active",
    "teammate_profile_update",
    "teammate_profiles_ensure",
]
