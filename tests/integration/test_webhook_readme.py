"""README's webhook receiver, run as written in a process of its own: it accepts what ticketflow signs, once per
event, and refuses a forged signature."""

import os
import re
import socket
import sys

import pytest

from apps.webhooks.models import WebhookDelivery
from apps.webhooks.outbound import post
from apps.webhooks.targets import Target
from tests.integration.test_webhook_delivery import drain, new_ticket
from tests.support.logs import ROOT
from tests.support.processes import ProcessTree, free_port, wait_until

pytestmark = pytest.mark.django_db

RECEIVER_EXAMPLE = re.compile(r"\n## Webhooks\n.*?```python\n(.*?)```", re.DOTALL)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def readme_receiver(tmp_path):
    [code] = RECEIVER_EXAMPLE.findall((ROOT / "README.md").read_text())
    script = tmp_path / "receiver.py"
    script.write_text(code)
    port = free_port()

    def start(secret: str) -> ProcessTree:
        env = {**os.environ, "WEBHOOK_SECRET": secret, "PORT": str(port)}
        process = ProcessTree("readme-receiver", [sys.executable, str(script)], env, log_dir=tmp_path).start()
        wait_until(lambda: listening(port), what="the README receiver", timeout=20, process=process)
        started.append(process)
        return process

    started: list[ProcessTree] = []
    start.port = port
    yield start
    for process in started:
        process.stop()


def test_the_readme_receiver_verifies_and_dedupes_deliveries(api, admin, shop, settings, readme_receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_RESEND_AFTER_SECONDS = 0
    created = api.post("/api/v1/webhooks", {"url": f"http://127.0.0.1:{readme_receiver.port}/hooks"}, admin)
    process = readme_receiver(created.json()["secret"])
    ticket = new_ticket(shop)

    drain()
    api.post(f"/api/v1/webhooks/{created.json()['id']}/redeliver", {"after_position": 0}, admin)
    drain()
    forged = post(
        Target("http", "127.0.0.1", readme_receiver.port, "/hooks", ("127.0.0.1",)),
        body=b'{"type": "ticket.created"}',
        headers={"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": "v1,Zm9yZ2Vk"},
    )

    statuses = set(WebhookDelivery.objects.values_list("attempt_rows__response_status", flat=True))
    assert statuses == {204}
    assert WebhookDelivery.objects.filter(status="delivered").count() == 2  # the event, and its redelivery
    assert forged.status == 401
    process.stop()
    # What it printed, without http.server's access log on stderr (one line per request: 2 deliveries, 1 forgery).
    output = process.log_path.read_text().splitlines()
    printed = [line for line in output if line.strip() and not line.startswith("127.0.0.1 - -")]
    assert len(output) - len(printed) == 3
    assert printed == [f"{WebhookDelivery.objects.first().event_position} ticket.created {ticket.pk}"]
