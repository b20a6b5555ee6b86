"""Migrations stay safe on big tables: django-migration-linter over every Parley migration, with
the documented exceptions below, and the concurrent index operations new migrations must use."""

from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext

from common.migration_operations import AddIndexConcurrently, AddUniqueConstraintConcurrently

ROOT = Path(__file__).resolve().parent.parent


def _parley_apps() -> list[str]:
    """Every app of this repository (a new app is linted without being listed here)."""
    return [
        app.label
        for app in apps.get_app_configs()
        if Path(app.path).resolve().is_relative_to(ROOT) and "site-packages" not in Path(app.path).parts
    ]


# Migrations written before the rule (it came with issue 16), each applied on installs that were small
# then, with why it is accepted. Never add a new migration here: write it by the rules instead.
LOCKING_INDEX = "builds an index inside the migration's transaction (writes to the table wait meanwhile)"
NOT_NULL_NO_DB_DEFAULT = (
    "adds a NOT NULL column whose default is Python's only (code from the release before cannot "
    "insert rows during a rolling deploy); today it would use db_default"
)
EXCEPTIONS = {
    ("api", "0003_webhookdelivery_contact"): LOCKING_INDEX + " on the webhook delivery log.",
    ("contacts", "0004_contact_ordering_indexes"): LOCKING_INDEX + ": the admin's ordering indexes.",
    ("conversations", "0003_inbox_unread_index"): LOCKING_INDEX + ": the inbox's unread index.",
    ("conversations", "0006_inbox_newest_activity_indexes"): LOCKING_INDEX + ": the inbox's newest-first indexes.",
    ("contacts", "0007_consent_by_purpose"): NOT_NULL_NO_DB_DEFAULT + " (consent by purpose).",
    ("tracking", "0009_consent_by_purpose"): NOT_NULL_NO_DB_DEFAULT + " (consent by purpose).",
    ("conversations", "0007_message_is_test"): NOT_NULL_NO_DB_DEFAULT + " (test sends).",
}

# The linter refuses every unique constraint (old code could insert what the new index refuses). One over a column an
# earlier migration added empty cannot be broken by any row, old code never writes it, and built concurrently it
# blocks no write: such a migration holds nothing else (test below), and is linted by that test instead.
UNIQUE_OVER_A_NEW_COLUMN = {
    ("conversations", "0023_part_idempotency_key_unique"): "the messages' idempotency keys (0022 added the column).",
}


def test_each_unique_index_migration_builds_only_partial_unique_indexes_concurrently():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for key in UNIQUE_OVER_A_NEW_COLUMN:
        migration = loader.disk_migrations[key]
        assert migration.atomic is False, key
        assert migration.operations, key
        for operation in migration.operations:
            assert type(operation) is AddUniqueConstraintConcurrently, key
            assert operation.constraint.condition is not None, key


def test_each_exception_names_one_existing_migration():
    # The linter skips by name alone: a new migration must not share a name with an exception.
    on_disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    for app_label, name in [*EXCEPTIONS, *UNIQUE_OVER_A_NEW_COLUMN]:
        assert (app_label, name) in on_disk, (app_label, name)
        assert [key for key in on_disk if key[1] == name] == [(app_label, name)], name


@pytest.mark.postgres
# Outside a transaction: sqlmigrate of a concurrent index operation refuses to run inside one.
@pytest.mark.django_db(transaction=True)
def test_every_migration_passes_the_linter_warnings_as_errors(capsys):
    if connection.vendor != "postgresql":
        pytest.skip("the lock rules are PostgreSQL's: the linter reads the SQL that sqlmigrate prints there")
    from django_migration_linter import MigrationLinter

    linter = MigrationLinter(
        path=".",
        include_apps=_parley_apps(),
        ignore_name=[name for _, name in [*EXCEPTIONS, *UNIQUE_OVER_A_NEW_COLUMN]],
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


@pytest.mark.django_db(transaction=True)
def test_the_concurrent_unique_constraint_builds_concurrently_on_postgresql_and_plainly_on_sqlite():
    state = MigrationExecutor(connection).loader.project_state()
    constraint = models.UniqueConstraint(
        fields=["email"], condition=models.Q(email__gt="x"), name="test_contact_email_uniq"
    )
    operation = AddUniqueConstraintConcurrently("contact", constraint)
    constrained = state.clone()
    operation.state_forwards("contacts", constrained)
    table = "contacts_contact"

    with CaptureQueriesContext(connection) as queries, connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("contacts", editor, state, constrained)
    try:
        assert connection.introspection.get_constraints(connection.cursor(), table)["test_contact_email_uniq"]["unique"]
        created = [query["sql"] for query in queries if "CREATE UNIQUE INDEX" in query["sql"]]
        assert created
        if connection.vendor == "postgresql":
            assert all("CREATE UNIQUE INDEX CONCURRENTLY" in sql for sql in created)
    finally:
        with connection.schema_editor(atomic=False) as editor:
            operation.database_backwards("contacts", editor, constrained, state)
    assert "test_contact_email_uniq" not in connection.introspection.get_constraints(connection.cursor(), table)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_unique_index_whose_build_failed_is_built_again_once_its_cause_is_gone():
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL leaves an INVALID index behind a failed concurrent build")
    from django.db import IntegrityError

    from contacts.models import Contact

    state = MigrationExecutor(connection).loader.project_state()
    constraint = models.UniqueConstraint(fields=["email"], condition=models.Q(email__gt="x"), name="test_email_uniq")
    operation = AddUniqueConstraintConcurrently("contact", constraint)
    constrained = state.clone()
    operation.state_forwards("contacts", constrained)
    twins = [Contact.objects.create(email="xy@example.com") for _ in range(2)]
    try:
        with pytest.raises(IntegrityError), connection.schema_editor(atomic=False) as editor:
            operation.database_forwards("contacts", editor, state, constrained)
        twins[1].delete()
        with connection.schema_editor(atomic=False) as editor:  # the migration run again
            operation.database_forwards("contacts", editor, state, constrained)
        found = connection.introspection.get_constraints(connection.cursor(), "contacts_contact")
        assert found["test_email_uniq"]["unique"]
    finally:
        with connection.schema_editor(atomic=False) as editor:
            operation.database_backwards("contacts", editor, constrained, state)
        Contact.objects.filter(pk__in=[t.pk for t in twins]).delete()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_index_a_killed_run_left_under_the_name_is_built_again_as_the_constraint_says():
    """A run killed after its build, before Django recorded the migration, left a valid index; or something else sits
    under the name. The migration run again builds the constraint's own (a kept leftover could be any index)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's migrations are atomic: a killed run leaves no index behind")
    state = MigrationExecutor(connection).loader.project_state()
    constraint = models.UniqueConstraint(fields=["email"], condition=models.Q(email__gt="x"), name="test_email_kept")
    operation = AddUniqueConstraintConcurrently("contact", constraint)
    constrained = state.clone()
    operation.state_forwards("contacts", constrained)
    table = "contacts_contact"
    try:
        for leftover in (
            lambda: operation.database_forwards("contacts", editor, state, constrained),  # the killed run's own
            lambda: editor.execute(f"CREATE INDEX test_email_kept ON {table} (created_at)"),  # another index
        ):
            with connection.schema_editor(atomic=False) as editor:
                leftover()
            with connection.schema_editor(atomic=False) as editor:  # the migration run again
                operation.database_forwards("contacts", editor, state, constrained)
            found = connection.introspection.get_constraints(connection.cursor(), table)["test_email_kept"]
            assert found["unique"] and found["columns"] == ["email"]
            with connection.schema_editor(atomic=False) as editor:
                operation.database_backwards("contacts", editor, constrained, state)
    finally:
        with connection.schema_editor(atomic=False) as editor:
            operation.database_backwards("contacts", editor, constrained, state)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_concurrent_index_operations_build_a_partitioned_tables_index_partition_by_partition():
    if connection.vendor != "postgresql":
        pytest.skip("partitioned tables are PostgreSQL's (docs/partitioning.md)")
    state = MigrationExecutor(connection).loader.project_state()
    index = models.Index(fields=["url"], name="test_pageview_url_conc")
    operation = AddIndexConcurrently("pageview", index)
    indexed = state.clone()
    operation.state_forwards("tracking", indexed)

    with CaptureQueriesContext(connection) as queries, connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("tracking", editor, state, indexed)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT x.indisvalid, (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = x.indexrelid) "
                "FROM pg_index x WHERE x.indexrelid = to_regclass('test_pageview_url_conc')"
            )
            valid, attached = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('tracking_pageview')")
            partitions = cursor.fetchone()[0]
        # Valid: every partition's index was built and attached (CONCURRENTLY, so writes went on).
        assert valid and attached == partitions > 1
        built = [query["sql"] for query in queries if "CREATE INDEX" in query["sql"]]
        assert sum("CREATE INDEX CONCURRENTLY" in sql for sql in built) == partitions
    finally:
        with connection.schema_editor(atomic=False) as editor:
            operation.database_backwards("tracking", editor, indexed, state)
    assert "test_pageview_url_conc" not in connection.introspection.get_constraints(
        connection.cursor(), "tracking_pageview"
    )
