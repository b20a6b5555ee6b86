"""The bench datasets are written in raw SQL against today's schema: a NOT NULL column added
without a database default breaks them silently until someone runs `bench/run.py`. Build each one
at a tiny size in the test database so a schema change that breaks them fails here."""

import pytest
from django.db import connection

from bench import admin_companies, admin_inbox, datasets, reports

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _skip_analyze(execute, sql, params, many, context):
    # The builders end with ANALYZE, whose statistics outlive the test's rolled-back rows and would
    # mislead the planner tests that run after this module (tests/conversations/test_admin.py).
    if sql.strip().upper() == "ANALYZE":
        return None
    return execute(sql, params, many, context)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the bench datasets are PostgreSQL SQL")
    with connection.execute_wrapper(_skip_analyze):
        yield


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (a constant table name)
        return cursor.fetchone()[0]


def test_contacts_dataset_builds():
    datasets.build_contacts(20)
    assert _count("contacts_contact") == 20


def test_inbox_dataset_builds():
    admin_inbox._build(20)
    assert _count("conversations_conversation") == 20
    assert _count("conversations_conversationpart") == 20 * admin_inbox.PARTS_PER_CONVERSATION


def test_companies_dataset_builds():
    admin_companies.build_companies(5)
    assert _count("companies_company") == 5
    assert _count("contacts_contact") == 5 * admin_companies.CONTACTS_PER_COMPANY


def test_reports_dataset_builds_with_its_rollups():
    reports._build(40)
    assert _count("conversations_conversation") == 40
    assert _count("tracking_pageview") == 40
    assert _count("reports_conversationday") > 0


@pytest.mark.django_db(transaction=True)  # it creates monthly partitions and vacuums: outside a transaction
def test_contact_page_dataset_builds():
    from bench import admin_contact

    viewed = admin_contact._build(1_000)
    assert _count("tracking_pageview") == 1_000
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_pageview WHERE contact_id = %s", [viewed])
        assert cursor.fetchone()[0] == admin_contact.PAGE_VIEWS_PER_CONTACT
