from datetime import datetime
from typing import Any

from django.db import connection, transaction

from apps.accounts.models import User
from apps.events.payloads import rules_changed
from apps.events.recording import record_event
from apps.rules.config import parse_config
from apps.rules.models import RulesRederivation, RulesVersion
from apps.rules.selectors import publish_active_version


def change_rules(*, config: Any, reason: str, changed_by: User | None, at: datetime | None = None) -> RulesVersion:
    """Append a new rules version (validated first). The caller schedules the re-derivation jobs.

    The change takes effect at PostgreSQL's clock when it is stored, or at `at` where a test sets the time.
    """
    parsed = parse_config(config)
    with transaction.atomic():
        # Serialise concurrent changes so versions stay gapless and strictly increasing.
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {RulesVersion._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        latest = RulesVersion.objects.order_by("-version").values_list("version", flat=True).first() or 0
        row = RulesVersion.objects.create(
            version=latest + 1,
            config=parsed.model_dump(),
            reason=reason,
            created_by=changed_by,
            **({} if at is None else {"created_at": at}),
        )
        record_event(rules_changed(row))
        transaction.on_commit(lambda: publish_active_version(row.pk))
    return row


def roll_back_rules(*, version: int, reason: str, changed_by: User | None) -> RulesVersion:
    """Append a new version whose config is that of `version`: a change like any other (the caller schedules the
    re-derivation jobs). RulesVersion.DoesNotExist when there is no such version."""
    earlier = RulesVersion.objects.get(version=version)
    return change_rules(config=earlier.config, reason=reason, changed_by=changed_by)


def record_rederivation(*, rules_version_id: int, job: str) -> None:
    """Record that `job` finished under the version; a repeat records nothing more."""
    RulesRederivation.objects.bulk_create(
        [RulesRederivation(rules_version_id=rules_version_id, job=job)], ignore_conflicts=True
    )
