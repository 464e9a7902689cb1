"""Follow-up work that services schedule after commit. The timers' truth is the database row: the ETA job is the
fast path, and the periodic sweep covers anything lost, late or duplicated."""

from celery import current_app
from django.conf import settings

from apps.common.time import isoformat_utc
from apps.common.transactions import on_commit_send
from apps.ticket.models import WorkSession

AUTO_RESUME_TASK = "ticketflow.timers.auto_resume"


def schedule_auto_resume(session: WorkSession) -> None:
    """After commit, schedule the session's auto-resume for the exact instant its pause budget runs out.

    With AUTO_RESUME_ETA off nothing is scheduled: the beat sweep, the guarantee, resumes the session alone.
    """
    if not settings.AUTO_RESUME_ETA:
        return
    session_id, deadline = session.pk, session.auto_resume_at
    on_commit_send(
        lambda: current_app.send_task(
            AUTO_RESUME_TASK,
            args=[session_id, isoformat_utc(deadline)],
            eta=deadline,
            queue=settings.CELERY_QUEUE_TIMERS,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        )
    )
