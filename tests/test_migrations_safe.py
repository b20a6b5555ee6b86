"""Migrations stay safe on big tables: django-migration-linter over every Parley migration, with
the documented exceptions below, and the concurrent index operations new migrations must use."""

import pytest
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from common.migration_operations import AddIndexConcurrently

PARLEY_APPS = ["contacts", "tracking", "conversations", "retention", "api", "ops", "widget"]
# Migrations written before the rule, each applied on installs that were small then: they build an
# index inside the migration's transaction (the table is locked against writes while it builds).
# Listed here, with why they are accepted; never add a new migration to this list.
EXCEPTIONS = {
    "0003_webhookdelivery_contact": "api: index on the delivery log's new contact column (a small log table).",
    "0004_contact_ordering_indexes": "contacts: the admin's ordering indexes, from before the first release.",
    "0003_inbox_unread_index": "conversations: the inbox's unread index, from before the first release.",
}


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_migration_passes_the_linter_warnings_as_errors(capsys):
    if connection.vendor != "postgresql":
        pytest.skip("the lock rules are PostgreSQL's: the linter reads the SQL that sqlmigrate prints there")
    from django_migration_linter import MigrationLinter

    linter = MigrationLinter(
        path=".",
        include_apps=PARLEY_APPS,
        ignore_name=list(EXCEPTIONS),
        all_warnings_as_errors=True,
        no_cache=True,
        analyser_string="postgresql",
    )
    linter.lint_all_migrations()

    report = capsys.readouterr().out
    assert not linter.has_errors, report
    assert linter.nb_valid > 20  # it did read the migrations


@pytest.mark.django_db(transaction=True)
def test_the_concurrent_index_operation_builds_concurrently_on_postgresql_and_plainly_on_sqlite():
    state = MigrationExecutor(connection).loader.project_state()
    operation = AddIndexConcurrently("contact", models.Index(fields=["name"], name="test_contact_name_conc"))
    indexed = state.clone()
    operation.state_forwards("contacts", indexed)
    table = "contacts_contact"

    with CaptureQueriesContext(connection) as queries, connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("contacts", editor, state, indexed)
    try:
        assert "test_contact_name_conc" in connection.introspection.get_constraints(connection.cursor(), table)
        created = [query["sql"] for query in queries if "CREATE INDEX" in query["sql"]]
        assert created
        if connection.vendor == "postgresql":
            assert all("CREATE INDEX CONCURRENTLY" in sql for sql in created)
    finally:
        with connection.schema_editor(atomic=False) as editor:
            operation.database_backwards("contacts", editor, indexed, state)
    assert "test_contact_name_conc" not in connection.introspection.get_constraints(connection.cursor(), table)
