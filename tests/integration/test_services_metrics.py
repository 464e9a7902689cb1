"""Metric services against PostgreSQL: auto metrics from the part specs, the manual override, and its end."""

import pytest

from apps.common.errors import ErrorCode
from apps.rules.services import change_rules
from apps.ticket import services_metrics as metrics
from apps.ticket import services_workflow as workflow
from apps.ticket.models import TicketPartSpec, TicketTransition
from apps.xp.models import XpEntry, XpKind
from tests.support.assertions import refused
from tests.support.factories import spec
from tests.support.records import reloaded


def metrics_of(ticket) -> tuple:
    ticket = reloaded(ticket)
    return ticket.total_duration, ticket.flag_minutes, ticket.flag_color, ticket.xp_amount, ticket.is_manual


def last_transition(ticket) -> TicketTransition:
    return TicketTransition.domain.history_for_ticket(ticket.pk).last()


def set_specs(shop, ticket, *minutes, parts=None):
    specs = [spec(part, m) for part, m in zip(parts or shop.parts, minutes, strict=False)]
    return metrics.set_ticket_part_specs(ticket_id=ticket.pk, part_specs=specs, actor=shop.master, at=shop.tick())


def test_specs_of_25_and_20_minutes_make_a_yellow_45_minute_ticket_worth_3_xp(shop):
    ticket = shop.create(minutes=(25, 20))
    assert metrics_of(ticket) == (45, 45, "yellow", 3, False)


def test_setting_part_specs_replaces_the_active_set_and_re_derives_metrics(shop):
    ticket = shop.create(minutes=(25, 20))
    at = shop.now

    set_specs(shop, ticket, 70)

    assert metrics_of(ticket) == (70, 70, "red", 4, False)
    alive = TicketPartSpec.objects.alive().filter(ticket=ticket)
    assert [(s.inventory_item_part_id, s.minutes) for s in alive] == [(shop.parts[0].pk, 70)]
    replaced = TicketPartSpec.objects.filter(ticket=ticket, deleted_at__isnull=False)
    assert sorted(replaced.values_list("minutes", flat=True)) == [20, 25]
    assert all(row.deleted_at > at for row in replaced)
    transition = last_transition(ticket)
    assert (transition.action, transition.from_status, transition.to_status) == (
        "part_specs_changed",
        "under_review",
        "under_review",
    )
    assert (transition.actor, transition.metadata) == (shop.master, {"part_spec_count": 1})


def test_the_same_part_may_be_specified_again_after_a_replacement(shop):
    ticket = shop.create(minutes=(25, 20))
    set_specs(shop, ticket, 10, 10)
    set_specs(shop, ticket, 5, 5)
    assert metrics_of(ticket)[0] == 10
    assert TicketPartSpec.objects.filter(ticket=ticket).count() == 6


def test_a_manual_override_survives_new_part_specs(shop):
    ticket = shop.create(minutes=(25, 20))
    metrics.set_manual_metrics(ticket_id=ticket.pk, flag_color="red", xp_amount=10, actor=shop.admin, at=shop.tick())
    assert metrics_of(ticket) == (45, 45, "red", 10, True)
    assert last_transition(ticket).metadata == {"flag_color": "red", "xp_amount": 10}

    set_specs(shop, ticket, 5)

    assert metrics_of(ticket) == (5, 5, "red", 10, True)


def test_clearing_the_override_recomputes_from_the_active_specs(shop):
    ticket = shop.create(minutes=(25, 20))
    metrics.set_manual_metrics(ticket_id=ticket.pk, flag_color="red", xp_amount=10, actor=shop.admin, at=shop.tick())
    set_specs(shop, ticket, 5)

    metrics.clear_manual_metrics(ticket_id=ticket.pk, actor=shop.admin, at=shop.tick())

    assert metrics_of(ticket) == (5, 5, "green", 1, False)
    assert last_transition(ticket).action == "manual_metrics_cleared"


def test_qc_pass_awards_the_manual_xp_amount(shop):
    ticket = shop.waiting_qc()
    metrics.set_manual_metrics(ticket_id=ticket.pk, flag_color="green", xp_amount=7, actor=shop.admin, at=shop.tick())

    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())

    assert XpEntry.objects.get(ticket=ticket, kind=XpKind.TICKET_BASE_XP).amount == 7


def test_new_specs_follow_the_active_rules(shop, django_capture_on_commit_callbacks):
    ticket = shop.create(minutes=(25, 20))
    with django_capture_on_commit_callbacks(execute=True):
        change_rules(
            config={"ticket_xp": {"base_divisor": 10, "flag_green_max_minutes": 50, "flag_yellow_max_minutes": 90}},
            reason="longer jobs",
            changed_by=shop.admin,
        )

    set_specs(shop, ticket, 25, 20)

    assert metrics_of(ticket) == (45, 45, "green", 5, False)


@pytest.mark.parametrize(("color", "xp"), [("purple", 1), ("green", -1)])
def test_manual_metrics_refuse_bad_values(shop, color, xp):
    ticket = shop.create(minutes=(25, 20))
    with refused(ErrorCode.VALIDATION_ERROR):
        metrics.set_manual_metrics(
            ticket_id=ticket.pk, flag_color=color, xp_amount=xp, actor=shop.admin, at=shop.tick()
        )
    assert metrics_of(ticket) == (45, 45, "yellow", 3, False)


def test_part_specs_refuse_a_foreign_part(shop, other_item_part):
    ticket = shop.create(minutes=(25, 20))
    with refused(ErrorCode.INVALID_PART):
        set_specs(shop, ticket, 5, parts=[other_item_part])
    assert metrics_of(ticket) == (45, 45, "yellow", 3, False)
    assert TicketPartSpec.objects.alive().filter(ticket=ticket).count() == 2


def test_part_specs_refuse_a_part_listed_twice(shop):
    ticket = shop.create(minutes=(25, 20))
    with refused(ErrorCode.VALIDATION_ERROR):
        set_specs(shop, ticket, 5, 6, parts=[shop.parts[1], shop.parts[1]])
    assert TicketPartSpec.objects.alive().filter(ticket=ticket).count() == 2


def test_metric_changes_are_refused_on_a_done_ticket(shop):
    ticket = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())
    before = metrics_of(ticket)

    with refused(ErrorCode.INVALID_TRANSITION):
        set_specs(shop, ticket, 5)
    with refused(ErrorCode.INVALID_TRANSITION):
        metrics.set_manual_metrics(ticket_id=ticket.pk, flag_color="red", xp_amount=9, actor=shop.admin, at=shop.tick())
    with refused(ErrorCode.INVALID_TRANSITION):
        metrics.clear_manual_metrics(ticket_id=ticket.pk, actor=shop.admin, at=shop.tick())

    assert metrics_of(ticket) == before
    assert last_transition(ticket).action == "qc_pass"


def test_metric_services_refuse_a_missing_ticket(shop):
    with refused(ErrorCode.NOT_FOUND):
        metrics.set_ticket_part_specs(ticket_id=10**9, part_specs=[], actor=shop.master, at=shop.tick())
    with refused(ErrorCode.NOT_FOUND):
        metrics.clear_manual_metrics(ticket_id=10**9, actor=shop.admin, at=shop.tick())
