"""Timestamps read through psycopg's C loader (common.postgresql_types): the same values as Django's loader gives."""

import datetime as dt

import pytest
from django.db import connection
from psycopg.pq import Format

from common.postgresql_types import UtcTimestamptzLoader
from contacts.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's loaders")


def test_connections_read_timestamps_aware_in_utc_through_the_c_loader():
    with connection.cursor() as cursor:
        assert cursor.cursor.adapters.get_loader(1184, Format.TEXT) is UtcTimestamptzLoader
        cursor.execute(
            "SELECT '2026-01-02 03:04:05.123456+05'::timestamptz, NULL::timestamptz, '0001-01-01Z'::timestamptz"
        )
        later, missing, earliest = cursor.fetchone()
    assert later == dt.datetime(2026, 1, 1, 22, 4, 5, 123456, tzinfo=dt.UTC)
    assert later.tzinfo is dt.UTC and later.hour == 22  # in UTC, as Django's own loader answers
    assert missing is None
    assert earliest == dt.datetime(1, 1, 1, tzinfo=dt.UTC)


def test_a_model_reads_back_the_moment_it_saved():
    moment = dt.datetime(2026, 3, 29, 1, 30, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    contact = Contact.objects.create(role=Contact.Role.VISITOR, last_seen_at=moment)
    read = Contact.objects.values_list("last_seen_at", flat=True).get(pk=contact.pk)
    assert read == moment and read.tzinfo is dt.UTC
