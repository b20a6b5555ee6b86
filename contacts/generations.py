"""Generations of contacts' rows: what a copy of some of a contact's fields kept in the cache (the widget's
kept snapshot, tracking.services.hot_path) is checked against before it is used instead of the row.

Every write of a watched field gives the row a new generation once it commits; a write that does not name its
rows by id (a bulk update) gives every contact one at once (the shared generation). A copy is valid only under
both generations its reader read before reading the row, so a copy of a row read before a write, even one
stored after that write committed, never matches again. Generations are random and never reused, and no copy is
made under a missing one (its reader creates it with the copy, only if still absent, so that when a writer's
came first the copy names a value never current): a generation that expires or is evicted voids its copies, it
cannot revive a stale one.

The model layer (contacts.models) calls this for every save, update, bulk update and delete, and the history
deletion for its rows: a write that skipped it would leave a copy stale for hours, so no caller has to remember.
"""

import logging
import secrets
import threading
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction

# The fields a kept copy may hold: a write of any of them gives the row a new generation.
WATCHED_FIELDS = frozenset(
    (
        "role", "name", "external_id", "email", "anonymous_id", "analytics_consent", "marketing_consent",
        "consent_source", "processing_restricted", "widget_tokens_revoked_at",
    )
)  # fmt: skip
# A contact's generation lasts this long unless written again (a copy made under it is valid as long); the
# shared one longer, since its end voids every copy at once.
GENERATION_SECONDS = 24 * 3600
SHARED_GENERATION_SECONDS = 30 * 24 * 3600
SHARED_KEY = "contacts:generation"
# A renewal the cache dropped is retried this often, for an hour.
RENEW_RETRY_SECONDS = 2
RENEW_RETRIES = 1800

logger = logging.getLogger(__name__)


def generation_key(contact_id: int) -> str:
    return f"contacts:generation:{contact_id}"


def generation_read_keys(contact_id: int) -> list[str]:
    """The cache entries a copy of this contact is checked against: its own generation, then the shared one."""
    return [generation_key(contact_id), SHARED_KEY]


def new_generation() -> int:
    # An int: the cache stores its digits (no pickle to read back), and 62 random bits are never reused.
    return secrets.randbits(62) + 1


def generation_seconds(key: str) -> int:
    return SHARED_GENERATION_SECONDS if key == SHARED_KEY else GENERATION_SECONDS


def contacts_changed(contact_ids: Iterable[int], *, using: str | None = None) -> None:
    """These contacts' watched fields change in the current transaction: new generations once it commits."""
    ids = list(contact_ids)
    if ids:

        def renew() -> None:  # a function (not a partial): a robust callback's failure is logged by its name
            _generations_renew(ids)

        transaction.on_commit(renew, using=using, robust=True)


def all_contacts_changed(*, using: str | None = None) -> None:
    """Contacts not named by id change in the current transaction: a new shared generation once it commits."""
    transaction.on_commit(_shared_renew_until_done, using=using, robust=True)


def _generations_renew(contact_ids: list[int]) -> None:
    try:
        dropped = cache.set_many({generation_key(pk): new_generation() for pk in contact_ids}, GENERATION_SECONDS)
    except Exception:  # any failure of the cache: the shared renewal below covers it
        dropped = True
    if dropped:
        _shared_renew_until_done()


def _shared_renew_until_done(attempt: int = 0) -> None:
    """A renewal the cache dropped (Redis unreachable: it fails soft) must not leave copies valid once it answers
    again: this process renews the shared generation as soon as it can, retrying in the background."""
    try:
        if not cache.set_many({SHARED_KEY: new_generation()}, SHARED_GENERATION_SECONDS):
            return
    except Exception:  # noqa: S110 - retried below
        pass
    if attempt == 0:
        logger.warning("A contact change could not void the widget's cached copies (cache unreachable): retrying.")
    if attempt < RENEW_RETRIES:
        retry = threading.Timer(RENEW_RETRY_SECONDS, _shared_renew_until_done, args=(attempt + 1,))
        retry.daemon = True
        retry.start()
    else:
        logger.error("The widget's cached copies of contacts may be stale for up to their life: the cache is down.")
