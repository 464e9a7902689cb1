"""`manage.py events`: the feed for operators, one JSON line per event, through the API's horizon."""

import json
import sys
import time
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.common.time import utc_now
from apps.events.recording import NewEvent, record_event
from tests.support.processes import ProcessTree, process_env


def printed(*args) -> list[dict]:
    out = StringIO()
    call_command("events", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.django_db
def test_it_prints_the_feed_as_json_lines_filtered_and_from_a_position(shop):
    shop.started()
    every = printed()
    assert [line["type"] for line in every][:3] == ["ticket.created", "ticket.review_approved", "ticket.assigned"]
    assert [line["type"] for line in printed("--type", "work_session.*", "--type", "ticket.started")] == [
        "ticket.started",
        "work_session.started",
    ]
    assert printed("--after", str(every[-2]["position"])) == every[-1:]


@pytest.mark.django_db
def test_an_unknown_type_is_refused():
    with pytest.raises(CommandError, match="names no event type"):
        printed("--type", "parcel.*")


@pytest.mark.django_db(transaction=True)
def test_follow_tails_events_committed_after_it_started():
    first = record_event(NewEvent(type="rules.changed", occurred_at=utc_now(), data={"n": 1}))
    argv = [sys.executable, "manage.py", "events", "--follow", "--type", "rules.*", "--after", str(first.position)]
    tail = ProcessTree(f"events-follow-{settings.RUN_ID}", argv, process_env())
    tail.log_path.unlink(missing_ok=True)
    tail.start()
    try:
        later = record_event(NewEvent(type="rules.changed", occurred_at=utc_now(), data={"n": 2}))
        record_event(NewEvent(type="ticket.created", occurred_at=utc_now(), data={}))  # filtered out
        deadline, lines = time.monotonic() + 20, []
        while time.monotonic() < deadline and not lines:
            time.sleep(0.2)
            lines = [
                json.loads(line) for line in tail.log_path.read_text().splitlines() if line.startswith('{"position"')
            ]
        assert [(line["id"], line["data"]) for line in lines] == [(str(later.id), {"n": 2})], tail.log_tail()
        assert tail.running
    finally:
        tail.stop(timeout=5)
