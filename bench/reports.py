"""reports_1m_vs_1k: the dashboard (the admin home) at 1,000,000 conversations divided by 1,000.

Each size gets its own PostgreSQL database, built with server-side INSERT … SELECT generate_series: half as
many contacts as conversations, conversations spread over the last 90 days across 2 websites, 3 teams and
10 teammates (most answered, most closed, one in ten breaching its SLA), a close part for each closed one,
a page view per conversation and email campaigns. The rollups are then computed by the real refresh service
(`reports_rebuild`, what the beat tasks run; its time is printed to stderr, not part of the figure), the
tables vacuumed and analysed as autovacuum would, and the same dashboard pages timed on each size: the
default 30 days, 90 days, a year, one team, one website, and a chart's CSV download.
`--quick` shrinks the large size to 100,000 conversations.
"""

import datetime as dt
import sys
import time

from bench.common import fresh_postgres, large_vs_small, setup_django, time_pages
from bench.datasets import INSERT_CONTACTS

SIZES = {"small": 1_000, "large": 1_000_000}
QUICK_LARGE = 100_000
TEAMMATES = 10
WEBSITES = 2
TEAMS = 3
HISTORY_DAYS = 90
EMAIL_CAMPAIGNS = 12

# States as in a real help desk: most closed, some open or snoozed; start times spread over the days and hours.
INSERT_CONVERSATIONS = """
INSERT INTO conversations_conversation (
    public_id, contact_id, website_id, source, state, snoozed_until, assignee_id, team_id, priority,
    waiting_since, contact_unread_count, teammate_unread_count, last_part_at, preview, preview_author_type,
    preview_author_name, started_on_url, first_response_at, title, custom_attributes, created_at, updated_at)
SELECT
    md5('conversation' || g), (SELECT min(id) FROM contacts_contact) + (g - 1) %% %(contacts)s,
    (SELECT min(id) FROM tracking_website) + g %% %(websites)s,
    'chat',
    CASE WHEN g %% 20 < 2 THEN 'open' WHEN g %% 20 = 2 THEN 'snoozed' ELSE 'closed' END,
    CASE WHEN g %% 20 = 2 THEN now() + (g %% 72) * interval '1 hour' END,
    CASE WHEN g %% 10 < 8 THEN (SELECT min(id) FROM auth_user) + g %% %(teammates)s END,
    CASE WHEN g %% 4 < 3 THEN (SELECT min(id) FROM conversations_team) + g %% %(teams)s END,
    CASE WHEN g %% 10 = 0 THEN 'priority' ELSE 'not_priority' END,
    CASE WHEN g %% 20 < 2 AND g %% 2 = 0 THEN now() - (g %% 600) * interval '1 minute' END,
    0, 0, now() - (g %% 5000) * interval '1 minute',
    'Question about order ref' || g, 'contact', 'Ada ' || g, '',
    CASE WHEN g %% 10 < 9
         THEN now() - (g %% %(days)s) * interval '1 day' - (g %% 1440) * interval '1 minute'
              + (1 + g %% 240) * interval '1 minute' END,
    '', '{}'::jsonb,
    now() - (g %% %(days)s) * interval '1 day' - (g %% 1440) * interval '1 minute',
    now() - (g %% 5000) * interval '1 minute'
FROM generate_series(1, %(conversations)s) AS g
"""

INSERT_CLOSE_PARTS = """
INSERT INTO conversations_conversationpart (conversation_id, part_type, author_teammate_id, body, created_at)
SELECT c.id, 'close', c.assignee_id, '', c.created_at + (30 + c.id %% 3000) * interval '1 minute'
FROM conversations_conversation c WHERE c.state = 'closed'
"""

INSERT_BREACHES = """
INSERT INTO conversations_slabreach (conversation_id, kind, due_at, recorded_at, team_id, priority, assignee_id)
SELECT c.id, 'first_response', c.created_at + interval '1 hour', c.created_at + interval '61 minute',
       c.team_id, c.priority, c.assignee_id
FROM conversations_conversation c WHERE c.id %% 10 = 0
"""

# One session per contact, one page view per conversation (on its start day).
INSERT_SESSIONS = """
INSERT INTO tracking_websession (contact_id, website_id, started_at, last_activity_at, page_views_count, landing_url,
    referrer, utm_source, utm_medium, utm_campaign, utm_term, utm_content, os, browser, browser_version,
    browser_language, city, country, country_name)
SELECT c.id, (SELECT min(id) FROM tracking_website) + c.id %% %(websites)s, c.last_seen_at, c.last_seen_at, 1,
       'https://shop.example/', '', '', '', '', '', '', '', '', '', '', '', '', ''
FROM contacts_contact c
"""

INSERT_PAGE_VIEWS = """
INSERT INTO tracking_pageview (contact_id, session_id, url, title, referrer, created_at)
SELECT s.contact_id, s.id, 'https://shop.example/pricing', 'Pricing', '', conv.created_at
FROM conversations_conversation conv JOIN tracking_websession s ON s.contact_id = conv.contact_id
"""

INSERT_EMAILS = """
INSERT INTO conversations_message (channel, subject, body, links, audience, state, recipients_count, is_test,
    created_at, sent_at)
SELECT 'email', 'Newsletter ' || g, 'Hello', '[]'::jsonb, 'everyone', 'sent', 0, false,
       now() - (g * 7) * interval '1 day', now() - (g * 7) * interval '1 day'
FROM generate_series(1, %(campaigns)s) AS g
"""

INSERT_DELIVERIES = """
INSERT INTO conversations_messagedelivery (message_id, contact_id, state, skip_reason, sent_at, opened_at, clicked_at,
    tracked)
SELECT m.id, c.id, 'sent', '', m.sent_at,
       CASE WHEN c.id %% 2 = 0 THEN m.sent_at + interval '3 hour' END,
       CASE WHEN c.id %% 8 = 0 THEN m.sent_at + interval '4 hour' END, true
FROM conversations_message m JOIN contacts_contact c ON c.id %% %(campaigns)s = m.id %% %(campaigns)s
WHERE c.role <> 'visitor'
"""


def _build(size: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from conversations.models import SlaPolicy, Team
    from reports.services import reports_rebuild
    from tracking.services import website_create

    user_model = get_user_model()
    user_model.objects.create_superuser("bench", "bench@example.com", "x")
    for index in range(1, TEAMMATES):
        user_model.objects.create_user(f"agent{index}", f"agent{index}@example.com", "x", is_staff=True,
                                       first_name=f"Agent {index}")  # fmt: skip
    for index in range(WEBSITES):
        website_create(name=f"Shop {index}", allowed_origins=[f"https://shop{index}.example"])
    for index in range(TEAMS):
        Team.objects.create(name=f"Team {index}")
    SlaPolicy.objects.create(name="Normal", priority="not_priority", first_response_minutes=60)
    contacts = max(1, size // 2)
    shape = {"contacts": contacts, "teammates": TEAMMATES, "websites": WEBSITES, "teams": TEAMS,
             "days": HISTORY_DAYS, "conversations": size, "campaigns": EMAIL_CAMPAIGNS}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        # The generated rows are consistent by construction: skip the per-row foreign-key triggers.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(INSERT_CONTACTS, [contacts])
        for statement in (INSERT_CONVERSATIONS, INSERT_CLOSE_PARTS, INSERT_BREACHES, INSERT_SESSIONS,
                          INSERT_PAGE_VIEWS, INSERT_EMAILS, INSERT_DELIVERIES):  # fmt: skip
            cursor.execute(statement, shape)
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE")
    started = time.perf_counter()
    reports_rebuild(days=HISTORY_DAYS + 2)
    print(f"rollups of {size} conversations computed in {time.perf_counter() - started:.1f}s", file=sys.stderr)


def _vacuum() -> None:
    """What autovacuum does after a bulk load (the visibility map lets the "now" counts read only the index)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _dashboard_pages() -> list[str]:
    from conversations.models import Team
    from reports.clock import report_today
    from tracking.models import Website

    today = report_today()
    team = Team.objects.order_by("pk").first()
    website = Website.objects.order_by("pk").first()

    def last(days: int) -> str:
        return f"start={today - dt.timedelta(days=days - 1)}&end={today}"

    return [
        "/admin/",
        f"/admin/?{last(90)}",
        f"/admin/?{last(365)}",
        f"/admin/?team={team.pk}",
        f"/admin/?website={website.pk}&{last(90)}",
        f"/admin/reports/teammates.csv?{last(90)}",
    ]


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    large = QUICK_LARGE if quick else SIZES["large"]
    ratio = large_vs_small("bench.reports", small=SIZES["small"], large=large, database_prefix="parley_reports_bench")
    return {"reports_1m_vs_1k": ratio}


def _main(size: int, name: str) -> None:
    setup_django(fresh_postgres(name))
    from django.contrib.auth import get_user_model
    from django.test import Client

    _build(size)
    _vacuum()
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    print(time_pages(client, _dashboard_pages(), repeat=9))


if __name__ == "__main__":
    _main(int(sys.argv[1]), sys.argv[2])
