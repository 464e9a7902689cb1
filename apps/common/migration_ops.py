"""Migration operations more than one app needs."""

from django.db import migrations


def drop_foreign_key_indexes(
    indexes: dict[str, tuple[str, str]], state_operations: list[migrations.AlterField]
) -> migrations.SeparateDatabaseAndState:
    """Foreign keys' own indexes (name -> (table, column)) dropped by name, where a composite index leading with the
    column serves the same lookups (each was one more index for every insert, and every update that moves the row,
    to write); `state_operations` (their `AlterField(db_index=False)`) tell Django.

    `AlterField` alone would also drop every other index on the column that Django did not create itself (the
    partial unique indexes that keep one open session per technician and per ticket: `sqlmigrate` shows it) and
    drop and re-validate each foreign key."""
    return migrations.SeparateDatabaseAndState(
        database_operations=[
            migrations.RunSQL(f'DROP INDEX "{name}"', reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")')
            for name, (table, column) in indexes.items()
        ],
        state_operations=state_operations,
    )
