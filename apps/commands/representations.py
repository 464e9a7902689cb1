from apps.commands.models import Command
from apps.common.time import isoformat_utc


def command_data(command: Command) -> dict:
    failed = command.status in ("rejected", "failed")
    return {
        "id": str(command.id),
        "type": command.type,
        "status": command.status,
        "ticket_id": command.ticket_id,
        "actor_id": command.actor_id,
        "idempotency_key": command.idempotency_key,
        "submitted_at": isoformat_utc(command.submitted_at),
        "occurred_at": isoformat_utc(command.occurred_at),
        "effective_at": isoformat_utc(command.effective_at),
        "finished_at": isoformat_utc(command.finished_at),
        "attempts": command.attempts,
        "result": command.result,
        "error": {"code": command.error_code, "message": command.error_message} if failed else None,
    }
