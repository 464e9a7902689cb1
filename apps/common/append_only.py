"""Append-only tables: an ORM guard here, a PostgreSQL trigger (see `append_only_trigger_sql`) underneath."""

from django.db import models


class AppendOnlyError(Exception):
    pass


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")


_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION ticketflow_reject_mutation() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""

# TRUNCATE empties a table without touching a row, so row triggers never see it. The test suite alone empties the
# database between transactional tests (Django's flush): its connections say `ticketflow.allow_truncate = on`.
_TRUNCATE_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION ticketflow_reject_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('ticketflow.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'table % is append-only: TRUNCATE refused', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def append_only_trigger_sql(table: str) -> tuple[str, str]:
    """(forward, reverse) SQL for a migration that makes `table` refuse UPDATE, DELETE and TRUNCATE."""
    trigger = f"{table}_append_only"
    forward = (
        _FUNCTION_SQL
        + f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
        + "FOR EACH ROW EXECUTE FUNCTION ticketflow_reject_mutation();"
        + append_only_truncate_sql(table)[0]
    )
    return forward, f"DROP TRIGGER IF EXISTS {trigger} ON {table};" + append_only_truncate_sql(table)[1]


def append_only_truncate_sql(table: str) -> tuple[str, str]:
    """(forward, reverse) SQL that makes `table` refuse TRUNCATE (idempotent: tables made append-only before
    TRUNCATE was covered get it from a later migration)."""
    trigger = f"{table}_append_only_truncate"
    forward = (
        _TRUNCATE_FUNCTION_SQL
        + f"CREATE OR REPLACE TRIGGER {trigger} BEFORE TRUNCATE ON {table} "
        + "FOR EACH STATEMENT EXECUTE FUNCTION ticketflow_reject_truncate();"
    )
    return forward, f"DROP TRIGGER IF EXISTS {trigger} ON {table};"
