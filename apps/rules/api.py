from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from django.db import transaction
from ninja import Field, Query, Router, Schema
from pydantic import AfterValidator, ConfigDict

from apps.accounts.models import Role
from apps.common.api import MAX_ID, ListQuery, paginate, require_role
from apps.common.problems import Problem
from apps.common.text import storable_text
from apps.common.time import isoformat_utc
from apps.rules.config import InvalidRulesConfig, RulesConfig
from apps.rules.models import RulesVersion
from apps.rules.selectors import active_rules
from apps.rules.services import change_rules, roll_back_rules

router = Router(tags=["rules"])


class RulesOut(Schema):
    model_config = ConfigDict(title="Rules")
    version: int
    config: dict[str, Any]
    created_at: datetime
    created_by_id: int | None
    reason: str


class RulesPage(Schema):
    model_config = ConfigDict(title="RulesVersionPage")
    items: list[RulesOut]
    next_cursor: str | None


Reason = Annotated[str, Field(max_length=500), AfterValidator(storable_text)]


class RulesIn(Schema):
    model_config = ConfigDict(extra="forbid", title="RulesChange")
    config: dict[str, Any]
    reason: Reason = ""


class RollbackIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True, title="RulesRollback")
    version: int = Field(..., ge=1, le=MAX_ID, description="the version whose config becomes the rules again")
    reason: Reason = ""


def rules_data(row: RulesVersion) -> dict:
    return {
        "version": row.version,
        # As in force: a key the stored version predates shows its default (a version stored before `policy`).
        "config": RulesConfig.model_validate(row.config).model_dump(mode="json"),
        "created_at": isoformat_utc(row.created_at),
        "created_by_id": row.created_by_id,
        "reason": row.reason,
    }


@router.get("", response=RulesOut, operation_id="getRules", summary="The active rules")
def get_rules(request):
    return rules_data(RulesVersion.objects.get(version=active_rules().version))


@router.put(
    "",
    response=RulesOut,
    operation_id="changeRules",
    summary="Change the rules (admin); re-derives metrics and timers in the background",
)
def put_rules(request, body: RulesIn):
    require_role(request.user, Role.ADMIN)
    return rules_data(_changed(lambda: change_rules(config=body.config, reason=body.reason, changed_by=request.user)))


@router.get(
    "/versions",
    response=RulesPage,
    operation_id="listRulesVersions",
    summary="Every rules version, newest first",
)
def list_versions(request, query: Query[ListQuery]):
    return paginate(RulesVersion.objects.all(), query=query, key="version", descending=True, render=rules_data)


@router.post(
    "/rollback",
    response=RulesOut,
    operation_id="rollbackRules",
    summary="Make an earlier version's config the rules again, as a new version (admin)",
    description="A change like any other: it re-derives metrics and timers in the background. An unknown version: "
    "`404`.",
)
def rollback_rules(request, body: RollbackIn):
    require_role(request.user, Role.ADMIN)
    try:
        row = _changed(lambda: roll_back_rules(version=body.version, reason=body.reason, changed_by=request.user))
    except RulesVersion.DoesNotExist:
        raise Problem(404, "not_found", f"rules version {body.version} does not exist") from None
    return rules_data(row)


def _changed(change: Callable[[], RulesVersion]) -> RulesVersion:
    """Make the change and queue its re-derivation in one transaction; an invalid config is a 422."""
    from apps.rules.followups import rederive_after_rules_change

    try:
        with transaction.atomic():
            row = change()
            rederive_after_rules_change(row)
    except InvalidRulesConfig as exc:
        errors = [{**error, "loc": ["body", *error["loc"]]} for error in exc.errors]
        raise Problem(422, "validation_error", exc.message, errors=errors) from None
    return row
