"""Database helpers: turning constraint violations into domain refusals."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.db import IntegrityError, transaction

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
    """Run the block in a savepoint; a violation of a constraint named in `refusals` becomes its DomainError.

    Only the savepoint is rolled back, so the caller's transaction stays usable.
    """
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        refusal = refusal_for(exc, refusals)
        if refusal is None:
            raise
        raise refusal from exc
