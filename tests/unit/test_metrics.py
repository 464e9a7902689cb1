"""Metric math on unsaved tickets: flag color boundaries, auto metrics, and the manual override."""

import pytest

from apps.common.errors import DomainError, ErrorCode
from apps.rules.config import TicketXpConfig
from apps.ticket.models import FlagColor, Ticket, TicketStatus


@pytest.mark.parametrize(
    ("minutes", "color"),
    [(0, "green"), (30, "green"), (31, "yellow"), (45, "yellow"), (60, "yellow"), (61, "red"), (10080, "red")],
)
def test_flag_color_is_green_up_to_green_max_then_yellow_up_to_yellow_max_then_red(minutes, color):
    assert Ticket.flag_color_from_minutes(minutes, green_max=30, yellow_max=60) == color


@pytest.mark.parametrize(("minutes", "color"), [(30, "green"), (31, "red")])
def test_an_empty_yellow_band_goes_straight_from_green_to_red(minutes, color):
    assert Ticket.flag_color_from_minutes(minutes, green_max=30, yellow_max=30) == color


def test_auto_metrics_sum_the_specs_and_derive_color_and_xp(xp_rules):
    ticket = Ticket(status=TicketStatus.NEW)

    ticket.apply_auto_metrics([25, 20], xp_rules=xp_rules)

    assert (ticket.total_duration, ticket.flag_minutes, ticket.flag_color, ticket.xp_amount) == (45, 45, "yellow", 3)
    assert ticket.is_manual is False


@pytest.mark.parametrize(("minutes", "xp"), [([], 0), ([0], 0), ([1], 1), ([20], 1), ([21], 2), ([20, 20], 2)])
def test_xp_is_the_ceiling_of_total_over_base_divisor(xp_rules, minutes, xp):
    ticket = Ticket(status=TicketStatus.NEW)
    ticket.apply_auto_metrics(minutes, xp_rules=xp_rules)
    assert ticket.xp_amount == xp


def test_auto_metrics_follow_the_rules_thresholds():
    rules = TicketXpConfig(base_divisor=7, flag_green_max_minutes=10, flag_yellow_max_minutes=40)
    ticket = Ticket(status=TicketStatus.NEW)

    ticket.apply_auto_metrics([25, 20], xp_rules=rules)

    assert (ticket.flag_color, ticket.xp_amount) == ("red", 7)  # ceil(45 / 7)


def test_manual_metrics_freeze_color_and_xp_while_totals_follow_the_specs(xp_rules):
    ticket = Ticket(status=TicketStatus.NEW)
    ticket.apply_auto_metrics([25, 20], xp_rules=xp_rules)

    ticket.apply_manual_metrics(flag_color=FlagColor.RED, xp_amount=9)
    ticket.apply_auto_metrics([5], xp_rules=xp_rules)

    assert (ticket.flag_color, ticket.xp_amount, ticket.is_manual) == ("red", 9, True)
    assert (ticket.total_duration, ticket.flag_minutes) == (5, 5)


def test_clearing_the_override_lets_auto_metrics_take_over_again(xp_rules):
    ticket = Ticket(status=TicketStatus.NEW)
    ticket.apply_manual_metrics(flag_color=FlagColor.RED, xp_amount=9)

    ticket.is_manual = False
    ticket.apply_auto_metrics([5], xp_rules=xp_rules)

    assert (ticket.flag_color, ticket.xp_amount) == ("green", 1)


@pytest.mark.parametrize(("color", "xp"), [("purple", 1), ("", 1), ("green", -1)])
def test_manual_metrics_refuse_an_unknown_color_or_negative_xp(color, xp):
    ticket = Ticket(status=TicketStatus.NEW, flag_color="green", xp_amount=2)
    with pytest.raises(DomainError) as refused:
        ticket.apply_manual_metrics(flag_color=color, xp_amount=xp)
    assert refused.value.code == ErrorCode.VALIDATION_ERROR
    assert (ticket.flag_color, ticket.xp_amount, ticket.is_manual) == ("green", 2, False)
