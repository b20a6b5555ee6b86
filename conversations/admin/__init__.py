"""The conversations admin, one module per page family: the inbox list (inbox), the conversation page
(thread), saved replies, teams and teammate profiles (teams), outbound messages (outbound)."""

from conversations.admin import inbox, outbound, routing, teams

__all__ = ["inbox", "outbound", "routing", "teams"]
