"""Facts of the HTTP contract (API.md), written out here rather than read from the code under test."""

# "Inventory and rules" → Config (defaults shown).
DEFAULT_RULES = {
    "ticket_xp": {
        "base_divisor": 20,
        "first_pass_bonus": 1,
        "qc_status_update_xp": 1,
        "flag_green_max_minutes": 30,
        "flag_yellow_max_minutes": 60,
    },
    "work_session": {"daily_pause_limit_seconds": 1800, "timezone": "UTC"},
    "policy": {"allow_self_qc": False, "allow_self_approval": False},
}

# A well-formed body of each public command type. The ids need not exist: acceptance does not look them up.
SPEC = {"inventory_item_part_id": 3, "color": "yellow", "minutes": 45, "comment": "worn"}
COMMAND_BODIES = {
    "ticket.create": {"inventory_item_id": 1, "title": "Brakes squeal", "part_specs": [SPEC]},
    "ticket.approve_review": {"ticket_id": 1},
    "ticket.assign": {"ticket_id": 1, "technician_id": 2},
    "ticket.start": {"ticket_id": 1},
    "ticket.to_waiting_qc": {"ticket_id": 1, "note": "done"},
    "ticket.qc_pass": {"ticket_id": 1, "note": "fine"},
    "ticket.qc_fail": {"ticket_id": 1, "note": "loose"},
    "ticket.set_part_specs": {"ticket_id": 1, "part_specs": [SPEC]},
    "ticket.set_manual_metrics": {"ticket_id": 1, "flag_color": "red", "xp_amount": 5},
    "ticket.clear_manual_metrics": {"ticket_id": 1},
    "work_session.start": {"ticket_id": 1},
    "work_session.pause": {"ticket_id": 1},
    "work_session.resume": {"ticket_id": 1},
    "work_session.stop": {"ticket_id": 1},
    "xp.adjust": {"technician_id": 2, "amount": -5, "reason": "double-counted ticket"},
}

# A command's status once a worker has dealt with it.
FINAL_STATUSES = {"succeeded", "rejected", "failed"}

PROBLEM_JSON = "application/problem+json"
