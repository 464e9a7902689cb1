"""The lane's next commands, with what applying the oldest needs to know, in one statement written out once.

This is the hottest read of the write path (once per command). Composed by the ORM — a select_related, three
correlated subqueries — it cost the worker more CPU to build than PostgreSQL took to run it, so the SQL is
written here, once, and the rows are turned into models with the fields' own converters.

Read after the lane's lock, in one statement: the two oldest pending commands (two, to spare a drain a final,
empty transaction) with their actors; PostgreSQL's clock; the latest instant recorded on the command's ticket,
which the command's effective instant may not precede (DESIGN.md, event time); and when the ticket's paused
session is due to resume itself (`paused_due`'s condition), so a command that meets no due resume spends no
statement looking for one. The session history's latest instant is read session by session, each from the end of
its own index (`ws_transition_history_idx`): a join ordered by instant let PostgreSQL hash the whole history table,
a read that grew with every command the service had ever applied.
"""

from functools import cache

from apps.accounts.models import User
from apps.commands.models import Command, CommandStatus
from apps.common.db import concrete_fields, model_from_row, prepared_cursor
from apps.ticket.models import SessionStatus, TicketTransition, WorkSession, WorkSessionTransition


def oldest_two_pending(lane: str) -> list[Command]:
    """The lane's two oldest pending commands, locked (FOR UPDATE), each with `actor` loaded and `db_now`,
    `latest_recorded` and `due_resume_at` set."""
    command_fields, user_fields = concrete_fields(Command), concrete_fields(User)
    with prepared_cursor() as cursor:
        cursor.execute(_statement(), [lane])
        rows = cursor.fetchall()
    commands = []
    for row in rows:
        command = model_from_row(Command, command_fields, row[: len(command_fields)])
        actor_values = row[len(command_fields) : len(command_fields) + len(user_fields)]
        if command.actor_id is not None:
            command.actor = model_from_row(User, user_fields, actor_values)
        command.db_now, command.latest_recorded, command.due_resume_at = row[len(command_fields) + len(user_fields) :]
        commands.append(command)
    return commands


@cache
def _statement() -> str:
    command, user = Command._meta.db_table, User._meta.db_table
    columns = [f"c.{field.column}" for field in concrete_fields(Command)]
    columns += [f"u.{field.column}" for field in concrete_fields(User)]
    ticket_history = TicketTransition._meta.db_table
    session, session_history = WorkSession._meta.db_table, WorkSessionTransition._meta.db_table
    return f"""
        SELECT {", ".join(columns)},
            STATEMENT_TIMESTAMP(),
            GREATEST(
                (SELECT t.created_at FROM {ticket_history} t
                  WHERE t.ticket_id = c.ticket_id ORDER BY t.created_at DESC LIMIT 1),
                (SELECT max(h.event_at) FROM {session} s CROSS JOIN LATERAL (
                    SELECT h.event_at FROM {session_history} h
                     WHERE h.session_id = s.id ORDER BY h.event_at DESC LIMIT 1
                  ) h
                  WHERE s.ticket_id = c.ticket_id)
            ),
            (SELECT s.auto_resume_at FROM {session} s
              WHERE s.ticket_id = c.ticket_id AND s.status = '{SessionStatus.PAUSED.value}' AND s.deleted_at IS NULL
              ORDER BY s.auto_resume_at LIMIT 1)
        FROM {command} c LEFT JOIN {user} u ON u.id = c.actor_id
        WHERE c.status = '{CommandStatus.PENDING.value}' AND c.lane = %s
        ORDER BY c.seq
        LIMIT 2
        FOR UPDATE OF c
    """
