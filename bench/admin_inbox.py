"""admin_inbox_1m_vs_1k: admin inbox page time at 1,000,000 conversations / 10,000,000 parts divided by 1,000 / 10,000.

Each size gets its own PostgreSQL database, built with server-side INSERT … SELECT generate_series
(the full-text GIN index is dropped during the load and rebuilt after, as an operator would), then
analysed. The same agent pages are timed on each in the same run: the inbox views (All open, Mine,
Unassigned, Snoozed, Closed, Everything) in the default order (newest activity first) and some in the
"Waiting longest" order, a page further down, a search for an order reference in message
bodies, and a conversation page with its thread and the contact profile.
`--quick` shrinks the large size to 100,000 conversations / 1,000,000 parts.
"""

import sys

from bench.common import large_vs_small, time_admin_pages
from bench.datasets import INSERT_CONTACTS

SIZES = {"small": 1_000, "large": 1_000_000}
QUICK_LARGE = 100_000
PARTS_PER_CONVERSATION = 10
TEAMMATES = 10
FTS_INDEX = "part_body_fts"

# One contact per two conversations; states as in a real help desk: most closed, some open/snoozed.
INSERT_CONVERSATIONS = """
INSERT INTO conversations_conversation (
    public_id, contact_id, website_id, source, state, snoozed_until, assignee_id, team_id, priority,
    waiting_since, contact_last_read_at, teammate_last_read_at, contact_unread_count, teammate_unread_count,
    last_part_at, preview, preview_author_type, preview_author_name, created_at, updated_at, started_on_url)
SELECT
    md5('conversation' || g),
    1 + (g - 1) %% %(contacts)s,
    NULL,
    'chat',
    CASE WHEN g %% 20 < 2 THEN 'open' WHEN g %% 20 = 2 THEN 'snoozed' ELSE 'closed' END,
    CASE WHEN g %% 20 = 2 THEN now() + (g %% 72) * interval '1 hour' END,
    CASE WHEN (g / 20) %% 10 < 7 THEN (SELECT min(id) FROM auth_user) + g %% %(teammates)s END,
    NULL,
    CASE WHEN g %% 10 = 0 THEN 'priority' ELSE 'not_priority' END,
    CASE WHEN g %% 20 < 3 AND g %% 2 = 0 THEN now() - (g %% 5000) * interval '1 minute' END,
    NULL, NULL, 0, CASE WHEN g %% 20 < 3 THEN 1 ELSE 0 END,
    now() - (g %% 5000) * interval '1 minute',
    'Question about order ref' || g || ': the parcel has not arrived yet',
    'contact', 'Ada ' || g,
    now() - (g %% 90) * interval '1 day', now() - (g %% 5000) * interval '1 minute', ''
FROM generate_series(1, %(conversations)s) AS g
"""

# Ten parts per conversation: the contact's question (with an order reference), replies, a note.
INSERT_PARTS = """
INSERT INTO conversations_conversationpart (
    conversation_id, part_type, author_contact_id, author_teammate_id, body, assigned_to_id, assigned_team_id,
    snoozed_until, created_at)
SELECT
    c.id,
    CASE WHEN n = 5 THEN 'note' ELSE 'comment' END,
    CASE WHEN n %% 2 = 1 THEN c.contact_id END,
    CASE WHEN n %% 2 = 0 THEN (SELECT min(id) FROM auth_user) + c.id %% %(teammates)s END,
    CASE
        WHEN n = 1 THEN 'Hello, my order ref' || c.id || ' has not arrived. Can you check the tracking number?'
        WHEN n = 5 THEN 'Internal: customer since 2021, refund if needed'
        WHEN n %% 2 = 0 THEN (ARRAY['Thanks for reaching out, let me check.', 'I have refunded the duplicate charge.',
                                     'Could you send a screenshot?', 'The courier says it ships tomorrow.'])[1 + (c.id + n) %% 4]
        ELSE (ARRAY['Thanks!', 'Still waiting, any news?', 'That worked.', 'The invoice shows the wrong address.'])[1 + (c.id + n) %% 4]
    END,
    NULL, NULL, NULL,
    c.created_at + n * interval '7 minute'
FROM conversations_conversation c CROSS JOIN generate_series(1, %(parts)s) AS n
"""


def _build(size: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    user_model = get_user_model()
    user_model.objects.create_superuser("bench", "bench@example.com", "x")
    for index in range(1, TEAMMATES):
        user_model.objects.create_user(f"agent{index}", f"agent{index}@example.com", "x", is_staff=True,
                                       first_name=f"Agent {index}")  # fmt: skip
    contacts = max(1, size // 2)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        # The generated rows are consistent by construction: skip the per-row foreign-key triggers,
        # which otherwise queue tens of millions of deferred checks for the parts.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(INSERT_CONTACTS, [contacts])
        cursor.execute(f"DROP INDEX IF EXISTS {FTS_INDEX}")
        cursor.execute(INSERT_CONVERSATIONS, {"contacts": contacts, "teammates": TEAMMATES, "conversations": size})
        cursor.execute(INSERT_PARTS, {"teammates": TEAMMATES, "parts": PARTS_PER_CONVERSATION})
        cursor.execute("SET session_replication_role = DEFAULT")
    _rebuild_search_index()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _rebuild_search_index() -> None:
    """The GIN index of migration 0002, built once after the load instead of row by row."""
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector
    from django.db import connection

    from conversations.models import ConversationPart

    with connection.schema_editor() as editor:
        editor.add_index(ConversationPart, GinIndex(SearchVector("body", config="simple"), name=FTS_INDEX))


def _agent_pages(size: int) -> list[str]:
    from conversations.models import Conversation

    base = "/admin/conversations/conversation/"
    middle = size // 2 + 1
    conversation = Conversation.objects.filter(state="open").order_by("id").first()
    return [
        base,
        f"{base}?view=mine",
        f"{base}?view=unassigned",
        f"{base}?view=unassigned&sort=waiting",
        f"{base}?sort=waiting",
        f"{base}?view=all",
        f"{base}?view=snoozed",
        f"{base}?view=closed",
        f"{base}?view=closed&p=5",
        f"{base}?view=all&q=ref{middle}",
        f"{base}?view=open&priority__exact=priority",
        f"{base}{conversation.pk}/change/",
    ]


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    large = QUICK_LARGE if quick else SIZES["large"]
    ratio = large_vs_small("bench.admin_inbox", small=SIZES["small"], large=large, database_prefix="parley_bench_inbox")
    return {"admin_inbox_1m_vs_1k": ratio}


if __name__ == "__main__":
    size = int(sys.argv[1])
    time_admin_pages(size=size, database=sys.argv[2], build=_build, pages=lambda: _agent_pages(size))
