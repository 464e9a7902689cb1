from apps.common.time import isoformat_utc
from apps.events.models import Event


def event_data(event: Event) -> dict:
    return {
        "position": event.position,
        "id": str(event.id),
        "type": event.type,
        "occurred_at": isoformat_utc(event.occurred_at),
        "recorded_at": isoformat_utc(event.recorded_at),
        "ticket_id": event.ticket_id,
        "technician_id": event.technician_id,
        "actor_id": event.actor_id,
        "command_id": None if event.command_id is None else str(event.command_id),
        "data": event.data,
    }
