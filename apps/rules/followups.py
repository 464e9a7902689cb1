"""What a rules change sets off in the background, queued after commit."""

from apps.rules.models import RulesVersion


def rederive_after_rules_change(row: RulesVersion) -> None:
    # Re-deriving ticket metrics and pause deadlines is queued here by the scheduled-enforcement work.
    return None
