"""What a delivery costs PostgreSQL to write (migration webhooks 0003): a claim, which sets only `enqueued_at`,
rewrites its row on the same page with no index entry (a HOT update), and no index exists that no query needs.
Deliveries go as the dispatcher sends them: small batches, each claimed, then delivered, all committed."""

import pytest
from django.db import connection, transaction

from apps.webhooks.delivery import claim_due_heads, deliver_claimed
from tests.support.webhooks import record_ticket_events, webhook_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback_receivers_allowed")]


def updates_so_far() -> tuple[int, int]:
    """This transaction's updates of webhook_delivery rows: (all, HOT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated(oid), pg_stat_get_xact_tuples_hot_updated(oid) FROM pg_class"
            " WHERE relname = 'webhook_delivery'"
        )
        return cursor.fetchone()


def test_claims_are_hot_updates_as_pages_fill(receiver):
    webhook_for(receiver)
    claimed = hot = 0
    for batch in range(40):  # 200 deliveries: several pages, each filled while earlier rows are claimed and done
        record_ticket_events(*(-(batch * 5 + n) - 1 for n in range(5)))
        with transaction.atomic():
            updated_before, hot_before = updates_so_far()
            heads = claim_due_heads()
            updated_after, hot_after = updates_so_far()
        assert updated_after - updated_before == len(heads) == 5
        claimed += len(heads)
        hot += hot_after - hot_before
        deliver_claimed([head.delivery_id for head in heads])

    assert (claimed, hot) == (200, 200)


def test_the_delivery_tables_carry_no_index_that_another_already_covers():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename IN ('webhook_delivery', 'webhook_delivery_attempt')"
        )
        columns = [definition.split("USING btree ")[1].split(")")[0] + ")" for (definition,) in cursor.fetchall()]
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'webhook_delivery'")
        options = cursor.fetchone()[0]

    assert "(webhook_id)" not in columns and "(delivery_id)" not in columns
    assert "(webhook_id, status, id)" in columns and "(delivery_id, number)" in columns  # the ones that lead with them
    assert options == ["fillfactor=70"]
