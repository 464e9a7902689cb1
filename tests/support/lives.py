"""A ticket's life as a script of commands, and the history the script leaves behind when applied exactly once.

The histories are fixed, so a command applied twice, or lost, shows in the ticket's or its sessions' history.
"""

# One technician's shift on an assigned ticket, with a pause.
PAUSE_LIFE = ["ticket.start", "work_session.pause", "work_session.resume", "work_session.stop", "ticket.to_waiting_qc"]
PAUSE_LIFE_SESSIONS = [["started", "paused", "resumed", "stopped"]]
# The same without pauses (for runs with a pause budget of a few seconds): two sessions on one ticket.
TWO_SESSION_LIFE = [
    "ticket.start",
    "work_session.stop",
    "work_session.start",
    "work_session.stop",
    "ticket.to_waiting_qc",
]
TWO_SESSION_LIFE_SESSIONS = [["started", "stopped"], ["started", "stopped"]]
# The ticket's own history after either life (it was created, approved and assigned first).
LIFE_TICKET_ACTIONS = ["created", "review_approved", "assigned", "started", "to_waiting_qc"]
