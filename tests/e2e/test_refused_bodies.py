"""A body the API refuses without reading it leaves the keep-alive connection usable, or closes it cleanly.

Against a real gunicorn configured as `make run` starts it (config/gunicorn.py), with one httpx client that reuses
its connection: the refusal arrives whole, and the next request on the same client succeeds, many times in a row.
A server that closed the connection after answering without saying `Connection: close` made that next request fail
with "Server disconnected without sending a response".
"""

import httpx
import pytest

from tests.support.factories import TechnicianFactory, issue_token
from tests.support.processes import Web, process_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

KIB = 1024
ROUNDS = 40


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    """gunicorn with the project's configuration file (its hooks included), as the Procfile runs it."""
    process = Web("refused-bodies-web", process_env(), extra=("--config", "config/gunicorn.py")).start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(web):
    token = issue_token(TechnicianFactory())
    with httpx.Client(base_url=web.url, headers={"Authorization": f"Bearer {token}"}, timeout=20) as client:
        yield client


def _json_of_size(size: int) -> bytes:
    padding = size - len(b'{"type": "ticket.start", "ticket_id": 1, "note": ""}')
    return b'{"type": "ticket.start", "ticket_id": 1, "note": "' + b"x" * padding + b'"}'


def _next_request_works(client: httpx.Client) -> None:
    response = client.get("/api/v1/tickets?limit=1")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("size", [64 * KIB + 1, 64 * KIB + 500, 80 * KIB, 200 * KIB, 1024 * KIB, 10 * 1024 * KIB])
def test_a_413_then_a_normal_request_on_the_same_client_succeed_every_time(client, size):
    body = _json_of_size(size)
    assert len(body) == size

    for _ in range(ROUNDS if size <= 1024 * KIB else 5):
        refused = client.post("/api/v1/commands", content=body, headers={"Content-Type": "application/json"})

        assert refused.status_code == 413, refused.text
        assert refused.json()["code"] == "payload_too_large"
        _next_request_works(client)


@pytest.mark.parametrize("size", [64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 100 * KIB])
@pytest.mark.parametrize(
    ("headers", "status"),
    [({"Authorization": "Bearer not-a-token"}, 401), ({"Content-Type": "text/plain"}, 415)],
    ids=["unauthenticated", "wrong_media_type"],
)
def test_a_body_refused_unread_for_another_reason_leaves_the_next_request_working(client, size, headers, status):
    body = _json_of_size(size)

    for _ in range(ROUNDS):
        refused = client.post("/api/v1/commands", content=body, headers={"Content-Type": "application/json", **headers})

        assert refused.status_code in (status, 413), refused.text
        _next_request_works(client)


def test_a_chunked_body_over_the_limit_is_refused_and_the_next_request_works(client):
    def chunks():
        for _ in range(100):
            yield b" " * KIB

    for _ in range(10):
        refused = client.post("/api/v1/commands", content=chunks(), headers={"Content-Type": "application/json"})

        assert refused.status_code in (400, 413), refused.text
        _next_request_works(client)
