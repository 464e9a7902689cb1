"""Rules changes at a given instant, for tests on a frozen clock.

In a `db` test the change never commits, so its on-commit publish never runs: the cached version is dropped
instead, and the next read loads the new one.
"""

from datetime import datetime
from typing import Any

from apps.rules.models import RulesVersion
from apps.rules.selectors import forget_cached_rules
from apps.rules.services import change_rules
from tests.support.clock import frozen


def change_rules_at(when: datetime, config: dict) -> RulesVersion:
    """Append a rules version at `when` (keys not given keep their defaults) and make it the active one."""
    with frozen(when):
        row = change_rules(config=config, reason="test on a frozen clock", changed_by=None, at=when)
    forget_cached_rules()
    assert row.created_at == when
    return row


def use_rules(when: datetime, **work_session: Any) -> RulesVersion:
    """Work-session rules from `when` on (ticket XP rules at their defaults)."""
    return change_rules_at(when, {"work_session": work_session})


def use_xp_rules(when: datetime, **ticket_xp: Any) -> RulesVersion:
    """Ticket XP rules from `when` on (work-session rules at their defaults)."""
    return change_rules_at(when, {"ticket_xp": ticket_xp})
