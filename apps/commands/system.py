"""Commands the service submits to itself (scheduled enforcement), through the same durable, ordered inbox."""

from django.conf import settings
from django.db import IntegrityError

from apps.accounts.models import system_user
from apps.commands.intake import fingerprint, store_command
from apps.commands.registry import REGISTRY
from apps.common.time import isoformat_utc


def auto_resume_key(session_id: int, auto_resume_at) -> str:
    return f"auto-resume:{session_id}:{isoformat_utc(auto_resume_at)}"


def submit_auto_resume(*, ticket_id: int, session_id: int, auto_resume_at, stored_at, attempt: int = 0) -> bool:
    """Queue the auto-resume of one pause. Idempotent per (session, deadline): True only for the first call.

    Duplicates (the ETA job and the sweep, two beats, a redelivered message) find the key taken and do nothing.
    The command takes its place in the ticket's lane behind every command accepted before it, and resumes the
    session only if the deadline has come by `stored_at`: the reading of PostgreSQL's clock that found it due.
    """
    command_type = REGISTRY["work_session.auto_resume"]
    payload = command_type.schema(ticket_id=ticket_id, session_id=session_id)
    key = auto_resume_key(session_id, auto_resume_at) + (f":retry-{attempt}" if attempt else "")
    body = {"type": command_type.name, **payload.model_dump()}
    try:
        store_command(
            command_type,
            payload,
            submitter=system_user(),
            actor=None,
            idempotency_key=key,
            fingerprint=fingerprint(body),
            stored_at=stored_at,
            queue=settings.CELERY_QUEUE_TIMERS,
        )
    except IntegrityError:
        return False
    return True
