"""Small assertions shared by the integration tests."""

from contextlib import contextmanager

import pytest

from apps.common.errors import DomainError, ErrorCode


@contextmanager
def refused(code: ErrorCode):
    """The block must raise DomainError with exactly `code`."""
    with pytest.raises(DomainError) as caught:
        yield caught
    assert caught.value.code == code, f"expected {code}, got {caught.value!r}"
