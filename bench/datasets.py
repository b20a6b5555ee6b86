"""Benchmark data built with server-side SQL: a realistic contact base of any size in seconds."""

from typing import Any

# What `insert_select` puts in a NOT NULL column without a default that the caller did not name
# (columns added by later migrations).
EMPTY_BY_TYPE = {
    "boolean": "false",
    "text": "''",
    "character varying": "''",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "double precision": "0",
    "numeric": "0",
    "jsonb": "'{}'::jsonb",
    "uuid": "gen_random_uuid()",
    "timestamp with time zone": "now()",
    "date": "current_date",
}


def insert_select(connection: Any, table: str, columns: dict[str, str], source: str, params: Any = None) -> None:
    """INSERT … SELECT over `source` (a psycopg connection), completing the columns a newer migration
    may have added with an empty value of their type."""
    required = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
        [table],
    ).fetchall()
    filled = dict(columns)
    for name, data_type in required:
        if name not in filled and name != "id":
            filled[name] = EMPTY_BY_TYPE[data_type]
    names = ", ".join(filled)
    values = ", ".join(filled.values())
    connection.execute(f"INSERT INTO {table} ({names}) SELECT {values} FROM {source}", params or {})


TAGS = ("vip", "beta", "churn risk", "enterprise", "newsletter")

INSERT_CONTACTS = """
INSERT INTO contacts_contact (
    role, external_id, anonymous_id, name, email, phone, avatar, signed_up_at, first_seen_at, last_seen_at,
    web_sessions_count, city, country, country_name, os, browser, browser_version, browser_language,
    language_override, last_contacted_at, last_replied_at, last_email_opened_at, last_email_clicked_at,
    unsubscribed_from_emails, custom_attributes, is_archived, created_at, updated_at,
    consent_source, processing_restricted)
SELECT
    CASE WHEN g %% 10 < 7 THEN 'visitor' WHEN g %% 10 = 7 THEN 'lead' ELSE 'user' END,
    CASE WHEN g %% 10 >= 8 THEN 'user-' || g END,
    md5(g::text)::uuid,
    CASE WHEN g %% 10 >= 7 THEN (ARRAY['Ada','Grace','Alan','Linus','Edsger'])[1 + g %% 5] || ' ' || g ELSE '' END,
    CASE WHEN g %% 10 >= 7 THEN 'person' || g || '@example.com' ELSE '' END,
    '', '',
    CASE WHEN g %% 10 >= 8 THEN now() - (g %% 700) * interval '1 day' END,
    now() - (g %% 400) * interval '1 day' - interval '3 day',
    now() - (g %% 400) * interval '1 day',
    1 + g %% 30,
    (ARRAY['Paris','Berlin','London','Tokyo','Lagos'])[1 + (g / 7) %% 5],
    (ARRAY['FR','DE','GB','JP','NG'])[1 + (g / 7) %% 5],
    (ARRAY['France','Germany','United Kingdom','Japan','Nigeria'])[1 + (g / 7) %% 5],
    'Mac OS X', 'Chrome', '131.0', 'en-US', '', NULL, NULL, NULL, NULL,
    g %% 50 = 0,
    CASE WHEN g %% 10 >= 8 THEN jsonb_build_object('plan', (ARRAY['free','pro','enterprise'])[1 + g %% 3], 'trial', g %% 4 = 0)
         ELSE '{}'::jsonb END,
    false, now() - (g %% 500) * interval '1 day', now(),
    '', false
FROM generate_series(1, %s) AS g
"""


def build_contacts(size: int) -> None:
    """`size` contacts (70% visitors, 10% leads, 20% users), tags on a fifth of the known ones, two attributes."""
    from django.db import connection

    from contacts.models import DataAttribute, Tag

    with connection.cursor() as cursor:
        cursor.execute(INSERT_CONTACTS, [size])
    for name in TAGS:
        Tag.objects.create(name=name)
    DataAttribute.objects.create(name="plan", data_type="string", options=["free", "pro", "enterprise"])
    DataAttribute.objects.create(name="trial", data_type="boolean")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contacttag (contact_id, tag_id, tagged_at) "
            "SELECT c.id, t.id, now() FROM contacts_contact c JOIN contacts_tag t ON c.id % 25 = t.id % 5 "
            "WHERE c.id % 5 = 0 AND c.role <> 'visitor'"
        )
        cursor.execute("ANALYZE")
