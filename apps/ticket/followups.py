"""Follow-up work that services schedule after commit. The timers' truth is the database row: the ETA job is the
fast path, and the periodic sweep covers anything lost, late or duplicated."""

from django.conf import settings

from apps.common.tasks import TaskName, send_task_on_commit
from apps.common.time import isoformat_utc
from apps.ticket.models import WorkSession


def schedule_auto_resume(session: WorkSession) -> None:
    """After commit, schedule the session's auto-resume for the exact instant its pause budget runs out.

    With AUTO_RESUME_ETA off nothing is scheduled: the beat sweep, the guarantee, resumes the session alone.
    """
    if not settings.AUTO_RESUME_ETA:
        return
    deadline = session.auto_resume_at
    send_task_on_commit(
        TaskName.AUTO_RESUME,
        args=[session.pk, isoformat_utc(deadline)],
        eta=deadline,
        queue=settings.CELERY_QUEUE_TIMERS,
    )
