"""What the delete-at-scale tests read of an admin delete confirmation and its queries (one object or a selection):
the statements' shapes, rows selected one by one, and the pages themselves."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext


def query_shape(captured):
    """The statements run, with their literal values blanked (ids, the session key, moments)."""
    return [re.sub(r"'[^']*'|\b\d+\b|\"s\d+_x\d+\"", "?", query["sql"]) for query in captured.captured_queries]


def rows_read_one_by_one(captured, tables):
    """Statements that select rows of `tables` themselves (not counts of them, not a DELETE of them)."""
    return [
        query["sql"] for query in captured.captured_queries
        if query["sql"].startswith("SELECT") and any(f'"{table}"."id"' in query["sql"] for table in tables)
    ]  # fmt: skip


def delete_page(client, url):
    """The confirmation page at `url` (warmed once: process-wide caches such as content types) and its queries."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        page = client.get(url)
    assert page.status_code == 200
    return page.content.decode(), captured


def bulk_confirmation(client, changelist, objects):
    """ "Delete selected" on `objects`: its confirmation page (warmed once) and its queries."""
    selection = {"action": "delete_selected", "_selected_action": [obj.pk for obj in objects]}
    client.post(changelist, selection)
    with CaptureQueriesContext(connection) as captured:
        page = client.post(changelist, selection)
    assert page.status_code == 200
    return page.content.decode(), captured


def bulk_queries(client, changelist, objects, *, post):
    """The queries of "Delete selected" on `objects`: its confirmation page, or (`post`) the confirmed deletion."""
    selection = {"action": "delete_selected", "_selected_action": [obj.pk for obj in objects]}
    with CaptureQueriesContext(connection) as captured:
        response = client.post(changelist, {**selection, "post": "yes"} if post else selection)
    assert response.status_code == (302 if post else 200)
    return captured
