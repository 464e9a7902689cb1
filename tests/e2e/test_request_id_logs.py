"""The request id of a POST that stored a command reaches the real worker: its log line about applying that command
carries the same `request_id` (API.md: logs of the commands a request stored carry it)."""

import json
import uuid

import pytest

from apps.xp.models import XpEntry
from tests.support.api import LiveClient
from tests.support.processes import ProcessTree, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def worker_records_about(worker: ProcessTree, command_id: str) -> list[dict]:
    """The worker's JSON log records naming the command (its log file is the worker's stdout and stderr)."""
    lines = worker.log_path.read_text(errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{") and command_id in line]
    return [record for record in records if record.get("command_id") == command_id]


def adjust(client: LiveClient, technician_id: int, headers: dict) -> tuple[str, str]:
    body = {"type": "xp.adjust", "technician_id": technician_id, "amount": 2, "reason": "traced"}
    response = client.http.post("/api/v1/commands", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["id"], response.headers["X-Request-ID"]


def test_the_workers_line_about_a_command_carries_the_id_of_the_request_that_stored_it(worker, live_server, people):
    admin = LiveClient.of(live_server.url, people["admin"])
    sent = f"upstream-{uuid.uuid4().hex[:12]}"
    traced, echoed = adjust(admin, people["tech"].pk, {"X-Request-ID": sent})
    untraced, generated = adjust(admin, people["tech"].pk, {})
    assert echoed == sent and generated != sent

    assert admin.wait_final(traced)["status"] == "succeeded"
    assert admin.wait_final(untraced)["status"] == "succeeded"
    assert XpEntry.objects.filter(user=people["tech"]).count() == 2

    for command_id, request_id in ((traced, sent), (untraced, generated)):
        records = wait_until(
            lambda command_id=command_id: worker_records_about(worker, command_id),
            what=f"the worker's log line about command {command_id}",
            timeout=10,
            process=worker,
        )
        assert [(r["msg"], r.get("request_id")) for r in records] == [("command succeeded", request_id)], records
