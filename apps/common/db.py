"""Database helpers: turning constraint violations into domain refusals, and raw rows into models."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache

from django.db import IntegrityError, connection
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
