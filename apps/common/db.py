"""Database helpers: turning constraint violations into domain refusals."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.db import IntegrityError

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
