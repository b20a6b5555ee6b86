"""Who else has a conversation open, and whether they are writing in it: the collision warning.

Presence lives in the shared cache only (Redis in production, files in the embedded mode), written
and read by the conversation page's poll (every few seconds while the page is visible): each teammate
has an entry per conversation that expires PRESENCE_TTL_SECONDS after their last poll, and the
conversation has the list of teammates who were there lately. A poll is a fixed number of cache
round trips (list, entries, own write) and no database query once the teammate's entry exists.
A list update two teammates race on loses one of them for one poll, never for longer: each poll
puts its teammate back.

Each page load names itself (`visit`): leaving marks that visit gone for a while, so a poll of the
same page still in flight when the teammate left, and answered after, does not bring them back.
"""

import re
import time
from typing import Any

from django.core.cache import cache

# The page polls every 5 seconds while visible: two missed polls and the teammate is gone.
PRESENCE_TTL_SECONDS = 15
# The list of who was there lately outlives the entries; an entry gone from it is dropped at the next write.
PRESENCE_LIST_TTL_SECONDS = 3600
# Writing a reply, writing an internal note, or only looking.
STATES = {"viewing": "is viewing", "typing": "is typing a reply", "noting": "is writing a note"}
GONE = "gone"
VISIT = re.compile(r"[0-9a-z]{1,32}")


def _list_key(conversation_id: int) -> str:
    return f"parley:presence:{conversation_id}"


def _entry_key(conversation_id: int, teammate_id: int) -> str:
    return f"parley:presence:{conversation_id}:{teammate_id}"


def _left_key(conversation_id: int, teammate_id: int, visit: str) -> str:
    return f"parley:presence-left:{conversation_id}:{teammate_id}:{visit}"


def conversation_presence(
    *, conversation: Any, teammate: Any, state: str, display_name: Any = None, visit: str = ""
) -> list[dict[str, str]]:
    """Record that `teammate` is on the conversation in `state` (STATES, or GONE when they leave) and
    answer the others there now: [{"name", "state", "words"}], by name. The contact's messenger is told
    whether they write a reply (teammate_typing_tell).

    `display_name()` gives the teammate's name when their entry has none yet (a database read, so
    only on the first poll of a visit). `visit` names the page load (VISIT), or is empty."""
    if state not in STATES and state != GONE:
        raise ValueError(f"unknown presence state {state!r}")
    conversation_id = conversation.pk
    left_key = _left_key(conversation_id, teammate.pk, visit) if VISIT.fullmatch(visit) else ""
    present_ids: list[int] = cache.get(_list_key(conversation_id)) or []
    keys = [_entry_key(conversation_id, pk) for pk in {*present_ids, teammate.pk}]
    entries = cache.get_many([*keys, left_key] if left_key else keys)
    if left_key in entries:
        state = GONE  # a late poll of a page already left: it records nothing
    own_key = _entry_key(conversation_id, teammate.pk)
    if state == GONE:
        cache.delete(own_key)
        if left_key:
            cache.set(left_key, True, PRESENCE_TTL_SECONDS)
    else:
        name = (entries.get(own_key) or {}).get("name") or (display_name() if display_name else str(teammate))
        cache.set(own_key, {"name": name, "state": state}, PRESENCE_TTL_SECONDS)
    still_here = [pk for pk in present_ids if _entry_key(conversation_id, pk) in entries and pk != teammate.pk]
    wanted = still_here if state == GONE else [*still_here, teammate.pk]
    if set(wanted) != set(present_ids):
        cache.set(_list_key(conversation_id), wanted, PRESENCE_LIST_TTL_SECONDS)
    others = [entries[_entry_key(conversation_id, pk)] for pk in still_here]
    teammate_typing_tell(conversation=conversation, teammate_id=teammate.pk, typing=state == "typing")
    return sorted(
        ({"name": entry["name"], "state": entry["state"], "words": STATES[entry["state"]]} for entry in others),
        key=lambda entry: entry["name"].lower(),
    )


# --- what the contact's messenger is told: a teammate is writing them a reply ---------------------------------------
# Never who, and never a note: only that a reply is being written, in which of the contact's conversations. Kept per
# contact (the messenger's poll reads it in the round trip of its token checks, whatever their number of
# conversations), for a little longer than the teammate's page takes between two polls while writing; a sent reply
# ends it at once.
TYPING_TO_CONTACT_SECONDS = 10


def contact_typing_key(contact_id: int) -> str:
    """The cache key of who writes `contact_id` a reply (the widget's poll reads it with the token's checks)."""
    return f"parley:typing-to:{contact_id}"


def teammate_typing_tell(*, conversation: Any, teammate_id: int, typing: bool, now: float | None = None) -> None:
    """Record whether `teammate_id` is writing a reply in `conversation` (its contact's messenger shows it). A
    teammate not writing costs one cache read; an entry lost to two teammates writing it at once comes back at the
    writer's next poll."""
    now = time.time() if now is None else now
    key = contact_typing_key(conversation.contact_id)
    held: dict[str, Any] = cache.get(key) or {}
    entry = held.get(conversation.public_id)
    if not typing and not (entry and str(teammate_id) in entry["until"]):
        return
    if typing:
        entry = held.setdefault(conversation.public_id, {"website_id": conversation.website_id, "until": {}})
        entry["until"][str(teammate_id)] = now + TYPING_TO_CONTACT_SECONDS
    else:
        del entry["until"][str(teammate_id)]
    live = {}
    for public_id, each in held.items():
        writing = {who: until for who, until in each["until"].items() if until > now}
        if writing:
            live[public_id] = {**each, "until": writing}
    if live:
        cache.set(key, live, TYPING_TO_CONTACT_SECONDS)
    else:
        cache.delete(key)


def contact_typing_conversations(
    *, contact_id: int, website_id: int, every_website: bool, reads: Any = cache, now: float | None = None
) -> list[str]:
    """The public ids of the contact's conversations this messenger shows (selectors.messenger_scope) in which a
    teammate is writing a reply now. `reads`: where the entry was read ahead (a CacheReads), or the cache."""
    now = time.time() if now is None else now
    held = reads.get(contact_typing_key(contact_id))
    if not isinstance(held, dict):
        return []
    return sorted(
        public_id
        for public_id, entry in held.items()
        if (every_website or entry["website_id"] in (None, website_id))
        and any(until > now for until in entry["until"].values())
    )


# --- what the team is told: the contact is writing in a conversation ------------------------------------------------
# The messenger's poll says so while keys come (and polls at once on the first key after a quiet spell); the
# conversation page's poll shows "… is typing". Long enough to span a messenger poll and a page poll; the contact's
# message ends it at once. One entry per contact, naming the one conversation they write in: a messenger naming
# conversations that are not its own (attack review: a new id each poll filled the file cache, whose culling then
# dropped other entries) only replaces its own entry, and no page shows an id that is not its conversation's.
CONTACT_TYPING_SECONDS = 6


def _contact_typing_key(contact_id: int) -> str:
    return f"parley:typing-from:{contact_id}"


def contact_typing_tell(*, contact_id: int, public_id: str, typing: bool) -> None:
    """Record that the contact is writing in their conversation `public_id` (a well-formed public id), or with
    `typing` False that they no longer write (in whichever conversation the entry named: one at a time)."""
    key = _contact_typing_key(contact_id)
    if typing:
        # The deadline in the entry too: it ends on time whatever the cache's own expiry (and under a test's clock).
        cache.set(key, {"id": public_id, "until": time.time() + CONTACT_TYPING_SECONDS}, CONTACT_TYPING_SECONDS)
    else:
        cache.delete(key)


def contact_is_typing(conversation: Any) -> bool:
    """Whether the conversation's contact is writing in it now (the conversation page's poll)."""
    entry = cache.get(_contact_typing_key(conversation.contact_id))
    return isinstance(entry, dict) and entry.get("id") == conversation.public_id and entry["until"] > time.time()
