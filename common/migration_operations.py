"""Migration operations that stay safe on big PostgreSQL tables and still run on embedded SQLite.

The rule for new migrations (docs/deployment.md, checked by tests/test_migrations_safe.py): an
index on an existing table is added or removed with these, in a migration with `atomic = False`.
On PostgreSQL they run CREATE/DROP INDEX CONCURRENTLY (writes go on while the index builds); on
SQLite, which has no such thing and no big tables, they are Django's AddIndex / RemoveIndex.

A partitioned table (page views and events: docs/partitioning.md) takes no CREATE INDEX
CONCURRENTLY, so there the index follows PostgreSQL's documented recipe: an index ON ONLY the
parent (invalid, instant), each partition's index built concurrently and attached, and the
parent's becomes valid once every partition has one. Removing it is a plain DROP INDEX on the
parent (PostgreSQL has no concurrent drop of a partitioned index): quick, but it waits for the
queries running on the table.
"""

import hashlib
from typing import Any

from django.contrib.postgres import operations as postgres_operations
from django.db import migrations, models

MAX_NAME_LENGTH = 63  # PostgreSQL's identifiers


def _on_postgresql(schema_editor: Any) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def _partitions(schema_editor: Any, table: str) -> list[str] | None:
    """The partitions of `table` when it is partitioned, else None."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
        if row is None or row[0] != "p":
            return None
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def _partition_index_name(partition: str, index_name: str) -> str:
    name = f"{partition}_{index_name}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    return f"{name[:54]}_{hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]}"


def index_add_concurrently(schema_editor: Any, model: type[models.Model], index: models.Index) -> None:
    """CREATE INDEX CONCURRENTLY, on a partitioned table partition by partition (module docstring)."""
    table = model._meta.db_table
    partitions = _partitions(schema_editor, table)
    if partitions is None:
        schema_editor.add_index(model, index, concurrently=True)
        return
    quote = schema_editor.quote_name
    parent = index.create_sql(model, schema_editor)
    parent.parts["table"] = f"ONLY {quote(table)}"
    schema_editor.execute(parent)
    for partition in partitions:
        child_name = _partition_index_name(partition, index.name)
        child = index.create_sql(model, schema_editor, concurrently=True)
        child.rename_table_references(table, partition)
        child.parts["name"] = quote(child_name)
        schema_editor.execute(child)
        schema_editor.execute(f"ALTER INDEX {quote(index.name)} ATTACH PARTITION {quote(child_name)}")


def index_remove_concurrently(schema_editor: Any, model: type[models.Model], index: models.Index) -> None:
    """DROP INDEX CONCURRENTLY; a plain DROP INDEX on a partitioned table (module docstring)."""
    if _partitions(schema_editor, model._meta.db_table) is None:
        schema_editor.remove_index(model, index, concurrently=True)
    else:
        schema_editor.remove_index(model, index)


class AddIndexConcurrently(postgres_operations.AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL (partitioned tables too), a plain CREATE INDEX elsewhere."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if not _on_postgresql(schema_editor):
            migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)
            return
        self._ensure_not_in_transaction(schema_editor)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index_add_concurrently(schema_editor, model, self.index)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if not _on_postgresql(schema_editor):
            migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
            return
        self._ensure_not_in_transaction(schema_editor)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index_remove_concurrently(schema_editor, model, self.index)


class RemoveIndexConcurrently(postgres_operations.RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL (plain on a partitioned table), a plain DROP INDEX elsewhere."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if not _on_postgresql(schema_editor):
            migrations.RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)
            return
        self._ensure_not_in_transaction(schema_editor)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            index_remove_concurrently(schema_editor, model, index)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if not _on_postgresql(schema_editor):
            migrations.RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
            return
        self._ensure_not_in_transaction(schema_editor)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            index_add_concurrently(schema_editor, model, index)


class AddUniqueConstraintConcurrently(migrations.AddConstraint):
    """A partial unique constraint (a UniqueConstraint with a condition: PostgreSQL keeps it as a unique index),
    its index built CONCURRENTLY on PostgreSQL (writes go on meanwhile); Django's AddConstraint elsewhere. In a
    migration with `atomic = False`, as the index operations above."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if not _on_postgresql(schema_editor) or not self.allow_migrate_model(schema_editor.connection.alias, model):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        if self.constraint.condition is None:
            raise ValueError(
                f"{self.constraint.name}: only a partial unique constraint is an index to build concurrently"
            )
        # An index under the name on this table is a run's that did not finish: INVALID after a failed build (rows it
        # refused, a time-out, a cancel), valid after one killed before Django recorded the migration. Either is
        # dropped and built again: kept, a leftover of another definition would stand for the constraint unseen.
        table = schema_editor.quote_name(model._meta.db_table)
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s AND i.indrelid = to_regclass(%s)",
                [self.constraint.name, table],
            )
            leftover = cursor.fetchone()
        if leftover:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY {leftover[0]}")
        statement = self.constraint.create_sql(model, schema_editor)
        statement.template = statement.template.replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1)
        schema_editor.execute(statement)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if not _on_postgresql(schema_editor) or not self.allow_migrate_model(schema_editor.connection.alias, model):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.constraint.name)}")
