"""The conversations admin, one module per page family: the inbox list (inbox), the conversation page
(thread), saved replies, teams and teammate profiles (teams), outbound messages (outbound), the
teammates' door to attached files (attachments)."""

from conversations.admin import attachments, inbox, outbound, routing, teams

__all__ = ["attachments", "inbox", "outbound", "routing", "teams"]
