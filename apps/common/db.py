"""Database helpers: turning constraint violations into domain refusals."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.db import IntegrityError, transaction

from apps.common.errors import DomainError, ErrorCode


def constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


@contextmanager
def refusing_on_violation(codes: Mapping[str, tuple[ErrorCode, str]]) -> Iterator[None]:
    """Run the block in a savepoint; a violation of a named constraint becomes that DomainError.

    The database is the last guard against races the row locks did not cover (two starts for one technician on
    two tickets); the caller's transaction stays usable because only the savepoint is rolled back.
    """
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        name = constraint_name(exc)
        if name in codes:
            code, message = codes[name]
            raise DomainError(code, message) from exc
        raise
