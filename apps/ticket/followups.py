"""Follow-up work that services schedule after commit. The timers' truth is the database row: these are the
fast path, and the periodic sweep covers anything lost."""

from apps.ticket.models import WorkSession


def schedule_auto_resume(session: WorkSession) -> None:
    # Scheduling the ETA job arrives with the scheduled-enforcement work; until then the sweep and the
    # technician's next command apply due resumes.
    return None
