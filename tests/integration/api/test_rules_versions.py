"""GET /rules/versions lists every version newest first; POST /rules/rollback (admin) appends a new version whose
config is an earlier one's, a change like any other: a `rules.changed` event and the background re-derivations."""

import pytest

from apps.common.tasks import TaskName
from apps.events.models import Event
from apps.rules import followups
from apps.rules.models import RulesVersion
from apps.rules.selectors import forget_cached_rules
from apps.ticket.models import Ticket
from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.contract import DEFAULT_RULES
from workers import rules as rules_tasks

FAST_XP = {"ticket_xp": {"base_divisor": 5}}


@pytest.fixture
def queued(monkeypatch):
    """The re-derivation tasks a change sends after commit (the broker's side), as (task, args)."""
    sent = []
    monkeypatch.setattr(followups, "send_task_on_commit", lambda task, *, args, queue: sent.append((task, args)))
    return sent


def change(api, admin, config: dict, reason: str) -> dict:
    response = api.put("/api/v1/rules", {"config": config, "reason": reason}, admin)
    assert response.status_code == 200, response.content
    forget_cached_rules()  # a `db` test never commits, so the change's on-commit publish of the new version never runs
    return response.json()


def rollback(api, user, body: dict):
    response = api.post("/api/v1/rules/rollback", body, user)
    forget_cached_rules()  # as above
    return response


def test_the_versions_are_listed_newest_first_in_the_shape_of_get_rules(api, admin, nobody, queued):
    change(api, admin, FAST_XP, "faster")
    latest = change(api, admin, {"work_session": {"timezone": "Europe/Berlin"}}, "moved")

    response = api.get("/api/v1/rules/versions", nobody)

    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["version"] for item in body["items"]] == [3, 2, 1]
    assert body["items"][0] == latest == api.get("/api/v1/rules", nobody).json()
    assert [item["reason"] for item in body["items"][:2]] == ["moved", "faster"]
    assert body["items"][2]["config"] == DEFAULT_RULES
    assert body["next_cursor"] is None


def test_the_versions_page_through_their_cursor(api, admin, nobody, queued):
    for divisor in (5, 6, 7):
        change(api, admin, {"ticket_xp": {"base_divisor": divisor}}, f"divisor {divisor}")

    seen, cursor = [], None
    for _ in range(5):
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(f"/api/v1/rules/versions?{query}", nobody).json()
        seen += [item["version"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [4, 3, 2, 1]


def test_a_rollback_appends_the_earlier_config_as_a_change_like_any_other(api, admin, nobody, shop, queued):
    ticket = shop.assigned()
    xp_under_defaults = ticket.xp_amount
    faster = change(api, admin, FAST_XP, "faster")
    rules_tasks.recompute_ticket_metrics(RulesVersion.objects.get(version=faster["version"]).pk)
    assert Ticket.objects.get(pk=ticket.pk).xp_amount != xp_under_defaults  # the change moved it
    queued.clear()

    response = rollback(api, admin, {"version": 1, "reason": "back to the defaults"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["version"], body["config"], body["reason"], body["created_by_id"]) == (
        3,
        DEFAULT_RULES,
        "back to the defaults",
        admin.pk,
    )
    assert api.get("/api/v1/rules", nobody).json() == body
    row = RulesVersion.objects.get(version=3)
    event = Event.objects.filter(type="rules.changed").latest("position")
    assert event.data == {"version": 3, "config": DEFAULT_RULES}
    assert sorted(queued) == sorted(
        [(TaskName.RECOMPUTE_TICKET_METRICS, [row.pk]), (TaskName.RECOMPUTE_PAUSE_DEADLINES, [row.pk])]
    )
    rules_tasks.recompute_ticket_metrics(row.pk)  # what the worker does with the queued job
    assert Ticket.objects.get(pk=ticket.pk).xp_amount == xp_under_defaults


def test_a_rollback_to_a_version_that_does_not_exist_is_a_404_and_changes_nothing(api, admin, queued):
    assert_problem(rollback(api, admin, {"version": 99, "reason": "typo"}), 404, "not_found")
    assert RulesVersion.objects.count() == 1
    assert queued == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"reason": "which one?"}, ["body", "version"]),
        ({"version": "1", "reason": "text"}, ["body", "version"]),
        ({"version": True, "reason": "bool"}, ["body", "version"]),
        ({"version": 0, "reason": "zero"}, ["body", "version"]),
        ({"version": 1, "reason": "r" * 501}, ["body", "reason"]),
        ({"version": 1, "reason": "x", "config": {}}, ["body", "config"]),
    ],
    ids=["missing_version", "version_as_text", "version_as_bool", "version_zero", "reason_too_long", "extra_field"],
)
def test_a_bad_rollback_body_is_a_422(api, admin, body, loc):
    assert_validation_problem(rollback(api, admin, body), loc)
    assert RulesVersion.objects.count() == 1


@pytest.mark.parametrize("role", ["master", "technician", "inspector", "nobody", "service"])
def test_only_an_admin_may_roll_the_rules_back(request, api, role):
    response = rollback(api, request.getfixturevalue(role), {"version": 1, "reason": "mine now"})

    assert_problem(response, 403, "forbidden")
    assert RulesVersion.objects.count() == 1
