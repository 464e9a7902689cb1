"""Database helpers: turning constraint violations into domain refusals, raw rows into models, and a cursor for the
write path's fixed statements."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache

import psycopg
from django.db import IntegrityError, connection
from django.db.backends.postgresql.base import CursorDebugWrapper, ServerBindingCursor
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model

from apps.common.errors import DomainError, ErrorCode

Refusals = Mapping[str, tuple[ErrorCode, str]]


def constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def refusal_for(exc: IntegrityError, refusals: Refusals) -> DomainError | None:
    """The refusal a violation of a named constraint becomes; None for a constraint `refusals` does not name."""
    name = constraint_name(exc)
    if name not in refusals:
        return None
    code, message = refusals[name]
    return DomainError(code, message)


@contextmanager
def refusing_on_violation(refusals: Refusals) -> Iterator[None]:
    """A violation of a constraint named in `refusals`, raised in the block, becomes its DomainError.

    The block takes no savepoint of its own (two statements per write on the command path): the refusal leaves
    through the caller's atomic service (a savepoint when nested), which rolls back to it and leaves the outer
    transaction usable. So use it inside an atomic block the refusal leaves, never one that catches it.
    """
    try:
        yield
    except IntegrityError as exc:
        refusal = refusal_for(exc, refusals)
        if refusal is None:
            raise
        raise refusal from exc


@cache
def concrete_fields(model: type[Model]) -> tuple[Field, ...]:
    """The model's columns, in the order `model_from_row` takes their values."""
    return tuple(model._meta.concrete_fields)


def model_from_row(model: type[Model], fields: Sequence[Field], values: Sequence):
    """An instance as the ORM would load it from a raw row's `values` for `fields` (each value through its
    field's converters: JSON, for one). Fields left out are deferred, as with `.only()`."""
    converted = [as_loaded(field, value) for field, value in zip(fields, values, strict=True)]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def as_loaded(field: Field, value):
    """A raw column value as the ORM loads it into `field`: through the field's converters (JSON, for one)."""
    for converter in field.get_db_converters(connection):
        value = converter(value, field, connection)
    return value


def prepared_cursor() -> CursorWrapper:
    """A cursor whose parameters PostgreSQL binds, for the write path's statements of fixed text (written once, or
    composed once by the ORM): each runs once or more per command, and with Django's default cursor every run had
    psycopg quote its parameters into the SQL in Python and PostgreSQL parse and plan it again. Here the values
    travel apart from the text, and a statement a connection has run `prepare_threshold` times (settings) is
    prepared: parsed once, still planned for each run's values (settings: `plan_cache_mode`). Django's wrapper as
    ever: errors become django.db's, DEBUG logs the queries.

    One statement per `execute` (the extended protocol takes no more); values must say their type where the SQL
    does not (`%s::bigint[]`), since PostgreSQL no longer sees them as literals.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
    connection.validate_thread_sharing()
    return _PreparedDebugCursor(cursor, connection) if connection.queries_logged else connection.make_cursor(cursor)


class _PreparedDebugCursor(CursorDebugWrapper):
    """DEBUG's query log, which Django reads back from psycopg: psycopg keeps no text for a prepared statement's
    run, so the statement is logged as `ops.compose_sql` binds it (as the ORM's cursor would have sent it)."""

    def execute(self, sql, params=None):
        with self.debug_sql(self._as_sent(sql, params)):
            return CursorWrapper.execute(self, sql, params)  # Django's error and execute wrappers, logged once

    def _as_sent(self, sql, params) -> str:
        if params is None:
            return sql
        try:
            return self.db.ops.compose_sql(sql, params)
        except (psycopg.DataError, psycopg.ProgrammingError):  # values the client cannot quote: the text, then
            return sql
