"""Lets the ping skip the chat queries for contacts known to have no conversation and no message.

Most pings come from visitors who never chatted. The ping marks such a contact "quiet" with
`cache.add`, and every write that can give a contact chat state (a new conversation, an in-app
message sent, a merge) first overwrites the mark with "busy". A ping that sees "busy" looks in
the database and never marks the contact quiet, so no interleaving leaves a stale "quiet"; a
rolled-back write only costs a few pings their shortcut. The mark expires, so writes made behind
the services' back (bulk demo data) are seen within MARK_SECONDS.
"""

from collections.abc import Iterable
from typing import Any

from django.core.cache import cache

QUIET = "quiet"
BUSY = "busy"
MARK_SECONDS = 600


def _key(contact_id: int) -> str:
    return f"conversations:widget-quiet:{contact_id}"


def cache_keys(contact_id: int) -> list[str]:
    """What contact_is_quiet reads: the ping fetches it ahead with its own cache reads."""
    return [_key(contact_id)]


def contact_is_quiet(*, contact_id: int, reads: Any = cache) -> bool:
    """`reads`: Django's cache or anything with its get(key), e.g. entries the request read ahead."""
    return reads.get(_key(contact_id)) == QUIET


def quiet_mark(contact_id: int) -> tuple[str, str, int]:
    """(key, value, seconds) of the "quiet" mark of a contact that cannot have anything yet (a new
    visitor): for a caller that writes it in its own round trip, only where no mark is."""
    return _key(contact_id), QUIET, MARK_SECONDS


def contact_mark_quiet(*, contact_id: int) -> None:
    """Called by the ping after finding nothing; loses to any "busy" mark already there."""
    cache.add(_key(contact_id), QUIET, MARK_SECONDS)


def contacts_mark_busy(*, contact_ids: Iterable[int]) -> None:
    """Called before a write that may give these contacts conversations or messages."""
    cache.set_many(dict.fromkeys((_key(pk) for pk in contact_ids), BUSY), MARK_SECONDS)
