"""Side effects leave the process only after commit."""

from collections.abc import Callable

from django.db import transaction


def on_commit_send(send: Callable[[], object]) -> None:
    """Run `send` (a broker publish) once the current transaction commits; never inside it.

    Outside a transaction Django runs it at once, which is what a caller in autocommit mode means.
    `robust=True`: a broker hiccup after commit must not turn a committed write into an error;
    the stale-command sweep re-queues whatever was not sent.
    """
    transaction.on_commit(send, robust=True)
