from datetime import datetime
from typing import Annotated, Any

from django.db import transaction
from ninja import Field, Router, Schema
from pydantic import AfterValidator, ConfigDict

from apps.accounts.models import Role
from apps.common.api import require_role
from apps.common.problems import Problem
from apps.common.text import storable_text
from apps.common.time import isoformat_utc
from apps.rules.config import InvalidRulesConfig, RulesConfig
from apps.rules.models import RulesVersion
from apps.rules.selectors import active_rules
from apps.rules.services import change_rules

router = Router(tags=["rules"])


class RulesOut(Schema):
    version: int
    config: dict[str, Any]
    created_at: datetime
    created_by_id: int | None
    reason: str


class RulesIn(Schema):
    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any]
    reason: Annotated[str, Field(max_length=500), AfterValidator(storable_text)] = ""


def rules_data(row: RulesVersion) -> dict:
    return {
        "version": row.version,
        # As in force: a key the stored version predates shows its default (a version stored before `policy`).
        "config": RulesConfig.model_validate(row.config).model_dump(mode="json"),
        "created_at": isoformat_utc(row.created_at),
        "created_by_id": row.created_by_id,
        "reason": row.reason,
    }


@router.get("", response=RulesOut, summary="The active rules")
def get_rules(request):
    return rules_data(RulesVersion.objects.get(version=active_rules().version))


@router.put("", response=RulesOut, summary="Change the rules (admin); re-derives metrics and timers in the background")
def put_rules(request, body: RulesIn):
    require_role(request.user, Role.ADMIN)
    try:
        with transaction.atomic():
            row = change_rules(config=body.config, reason=body.reason, changed_by=request.user)
            from apps.rules.followups import rederive_after_rules_change

            rederive_after_rules_change(row)
    except InvalidRulesConfig as exc:
        errors = [{**error, "loc": ["body", *error["loc"]]} for error in exc.errors]
        raise Problem(422, "validation_error", exc.message, errors=errors) from None
    return rules_data(row)
