"""Migration operations that keep large tables writable while they change."""
from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations import AddIndex, AlterField
from django.db.migrations.operations.base import Operation


class AddIndexWithoutLocking(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL: submissions and workers keep writing while an index
    is built over millions of rows (the migration must say `atomic = False`). A plain CREATE INDEX
    on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def _index_names(schema_editor, table: str, column: str) -> tuple[str, str]:
    """The index Django made for an indexed column, and on PostgreSQL its LIKE (pattern_ops) twin."""
    return tuple(schema_editor._create_index_name(table, [column], suffix=suffix) for suffix in ("", "_like"))


def _drop_concurrently(schema_editor, name: str) -> None:
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


def _create_concurrently(schema_editor, name: str, table: str, column: str, ops: str = "") -> None:
    quote = schema_editor.quote_name
    indexed = f"{quote(column)} {ops}" if ops else quote(column)
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote(name)} ON {quote(table)} ({indexed})")


class DropFieldIndexWithoutLocking(AlterField):
    """An AlterField that only turns a field's db_index off. On PostgreSQL its indexes are dropped
    CONCURRENTLY (the migration must say `atomic = False`), so that the table stays writable, and
    backwards built again CONCURRENTLY; elsewhere Django's AlterField."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        for name in _index_names(schema_editor, model._meta.db_table, model._meta.get_field(self.name).column):
            _drop_concurrently(schema_editor, name)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            # AlterField's own backwards: its forwards with the states swapped.
            return AlterField.database_forwards(self, app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        table, column = model._meta.db_table, field.column
        index, like = _index_names(schema_editor, table, column)
        _create_concurrently(schema_editor, index, table, column)
        column_type = field.db_parameters(connection=schema_editor.connection)["type"] or ""
        if column_type.startswith(("varchar", "text")):  # where Django's backend adds the LIKE twin
            ops = "varchar_pattern_ops" if column_type.startswith("varchar") else "text_pattern_ops"
            _create_concurrently(schema_editor, like, table, column, ops)


class DropPatternIndexWithoutLocking(Operation):
    """Drop the varchar_pattern_ops index PostgreSQL's backend adds beside an indexed text column,
    for a column nobody searches with LIKE (CONCURRENTLY; `atomic = False`). Backwards it is built
    again. Nothing elsewhere: only PostgreSQL has them."""

    reduces_to_sql = False
    reversible = True

    def __init__(self, model_name: str, name: str):
        self.model_name, self.name = model_name, name

    def state_forwards(self, app_label, state):
        pass

    def _target(self, app_label, schema_editor, state) -> tuple[str, str, str]:
        model = state.apps.get_model(app_label, self.model_name)
        table, column = model._meta.db_table, model._meta.get_field(self.name).column
        return table, column, _index_names(schema_editor, table, column)[1]

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            _drop_concurrently(schema_editor, self._target(app_label, schema_editor, from_state)[2])

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            table, column, name = self._target(app_label, schema_editor, to_state)
            _create_concurrently(schema_editor, name, table, column, "varchar_pattern_ops")

    def describe(self):
        return f"Drop the LIKE index of {self.model_name}.{self.name} (PostgreSQL)"

    def deconstruct(self):
        return self.__class__.__qualname__, [], {"model_name": self.model_name, "name": self.name}
