"""Outbound HTTP is hostile territory: internal targets refused after DNS resolution (with
WEBHOOK_ALLOW_PRIVATE_TARGETS off, as in production), the checked address is the one connected to, no redirects,
a total deadline, at most 64 KiB read. The far end is a real HTTP server on loopback."""

import os
import re
import socket
import struct
import threading
import time
from contextlib import suppress

import pytest

from apps.webhooks import outbound
from apps.webhooks.models import Webhook
from apps.webhooks.outbound import MAX_RESPONSE_BYTES, post
from apps.webhooks.targets import RefusedTarget, Target, resolve
from tests.support.processes import free_port
from tests.support.receiver import Receiver

INTERNAL = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.8.9.10:8080/hook", "loopback"),
    ("http://localhost/", "loopback"),  # a name: judged by what it resolves to
    ("http://2130706433/", "loopback"),  # 127.0.0.1 spelt as one number
    ("http://0x7f.1/", "loopback"),  # and in hex
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
    ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://[::ffff:192.168.0.1]/", "private"),
    ("http://[64:ff9b::c0a8:1]/", "private"),  # NAT64 around 192.168.0.1
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
    ("http://[fe80::1]/", "link-local"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://[fc00::1]/", "private"),  # IPv6 unique local
    ("http://[fd12:3456::1]/", "private"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "private"),  # reserved (Python files 240/4 under private too)
    ("http://255.255.255.255/", "private"),
    ("http://192.0.2.10/", "private"),  # documentation range
]
PUBLIC = [
    "https://93.184.215.14/hooks",
    "http://8.8.8.8:8080/x?y=1",
    "http://[2606:4700::1111]/",
    "http://[::ffff:8.8.8.8]/",
]


@pytest.fixture(autouse=True)
def _production_rules(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()
    outbound._kept.close_all()  # each test starts without a kept connection


@pytest.mark.parametrize(("url", "reason"), INTERNAL)
def test_internal_targets_are_refused_after_resolution(url, reason):
    with pytest.raises(RefusedTarget, match=reason):
        resolve(url)


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "reason"), INTERNAL[::4])
def test_creating_a_webhook_for_an_internal_target_is_422_on_the_url(api, admin, url, reason):
    answer = api.post("/api/v1/webhooks", {"url": url}, admin)

    assert answer.status_code == 422, answer.content
    [error] = answer.json()["errors"]
    assert error["loc"] == ["body", "url"] and reason in error["msg"] and "refused" in error["msg"]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url", PUBLIC)
def test_public_addresses_are_allowed(url):
    assert resolve(url).addresses


def test_the_switch_lets_development_reach_loopback(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True

    assert resolve("http://localhost:8000/x").addresses[0] in ("127.0.0.1", "::1")


def test_the_connection_goes_to_the_checked_address_without_resolving_the_name_again(receiver):
    # `.invalid` never resolves (RFC 6761): reaching the receiver proves the name was not looked up again.
    target = Target("http", "hooks.invalid", receiver.port, "/in?x=1", ("127.0.0.1",))

    answer = post(target, body=b'{"a":1}', headers={"Content-Type": "application/json"})

    assert (answer.status, answer.error) == (200, None)
    [arrived] = receiver.received()
    assert arrived.headers["host"] == f"hooks.invalid:{receiver.port}" and arrived.body == b'{"a":1}'


def test_at_most_64_kib_of_an_answer_is_read(receiver):
    receiver.reply = b"x" * (1024 * 1024)

    answer = post(_target(receiver.port), body=b"{}", headers={})

    assert answer.status == 200 and len(answer.body) == MAX_RESPONSE_BYTES == 64 * 1024


def test_a_redirect_is_an_answer_not_followed(receiver):
    receiver.status = 302
    receiver.headers = {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}

    answer = post(_target(receiver.port), body=b"{}", headers={})

    time.sleep(0.3)
    assert answer.status == 302
    assert len(receiver.received()) == 1


def test_a_slow_receiver_meets_the_total_deadline(receiver):
    receiver.delay = 3

    started = time.monotonic()
    answer = post(_target(receiver.port), body=b"{}", headers={}, total_timeout=1)

    assert answer.status is None and answer.error.startswith("timed out")
    assert time.monotonic() - started < 2


def test_a_closed_port_is_an_error_not_an_exception():
    answer = post(_target(free_port()), body=b"{}", headers={})

    assert answer.status is None and "ConnectionRefused" in answer.error


def test_a_connection_is_kept_for_the_next_post_to_the_same_target(receiver):
    answers = [post(_target(receiver.port), body=b"{}", headers={}) for _ in range(5)]

    assert [answer.status for answer in answers] == [200] * 5
    assert len(receiver.received()) == 5 and receiver.connections_opened == 1


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux's")
def test_a_kept_connection_does_not_stall_on_a_receiver_that_writes_headers_and_body_apart(receiver):
    """The test receiver is Python's http.server: headers and body in two writes, Nagle's algorithm on. Were the
    first segment's acknowledgement delayed (Linux: 40 ms), each POST on a kept connection would wait that long for
    the body; this guards that stall, it measures no speed."""
    durations = [post(_target(receiver.port), body=b"{}", headers={}).duration_ms for _ in range(21)]

    assert receiver.connections_opened == 1
    assert sorted(durations)[10] < 30, durations


def test_a_receiver_that_says_connection_close_gets_a_new_connection_each_time(receiver):
    receiver.headers = {"Connection": "close"}

    answers = [post(_target(receiver.port), body=b"{}", headers={}) for _ in range(3)]

    assert [answer.status for answer in answers] == [200] * 3
    assert receiver.connections_opened == 3 and outbound._kept._idle == {}


def test_an_answer_not_read_to_its_end_closes_the_connection(receiver):
    receiver.reply = b"x" * (MAX_RESPONSE_BYTES + 1)

    post(_target(receiver.port), body=b"{}", headers={})
    assert outbound._kept._idle == {}
    receiver.reply = b"ok"
    answer = post(_target(receiver.port), body=b"{}", headers={})

    assert answer.status == 200 and receiver.connections_opened == 2


def test_a_kept_connection_the_receiver_closed_is_not_used(receiver, monkeypatch):
    monkeypatch.setattr(outbound, "_DEAD_CONNECTION", ())  # no second try: only the check before reuse saves it
    assert post(_target(receiver.port), body=b"{}", headers={}).status == 200
    receiver.stop()  # closes the kept connection from its end
    receiver.start()  # the same port

    answer = post(_target(receiver.port), body=b"{}", headers={})

    assert (answer.status, answer.error) == (200, None)
    assert len(receiver.received()) == 2 and receiver.connections_opened == 2


def test_a_kept_connection_found_dead_mid_post_is_sent_again_once_on_a_new_one(receiver, monkeypatch):
    """The receiver's close can cross the POST on the wire (after the idle check): nothing was answered, so the POST
    goes again on a new connection, and arrives once."""
    assert post(_target(receiver.port), body=b"{}", headers={}).status == 200
    receiver.stop()
    receiver.start()
    time.sleep(0.1)  # the close has reached this end: the check below would see it, were it asked
    monkeypatch.setattr(outbound, "_closed_by_peer", lambda sock: False)

    answer = post(_target(receiver.port), body=b'{"n":2}', headers={})

    assert (answer.status, answer.error) == (200, None)
    assert [d.body for d in receiver.received()] == [b"{}", b'{"n":2}']


def test_a_kept_connection_is_not_used_past_its_idle_time(receiver, monkeypatch):
    post(_target(receiver.port), body=b"{}", headers={})
    monkeypatch.setattr(outbound, "IDLE_SECONDS", 0.0)
    time.sleep(0.01)

    assert post(_target(receiver.port), body=b"{}", headers={}).status == 200
    assert receiver.connections_opened == 2


def test_a_connection_idle_past_its_time_is_closed_when_another_target_is_served(monkeypatch):
    first, second = Receiver().start(), Receiver().start()
    try:
        post(_target(first.port), body=b"{}", headers={})
        monkeypatch.setattr(outbound, "IDLE_SECONDS", 0.0)
        time.sleep(0.01)
        post(_target(second.port), body=b"{}", headers={})

        assert [key.port for key in outbound._kept._idle] == [second.port]
    finally:
        first.stop()
        second.stop()
        outbound._kept.close_all()


def test_a_forked_process_never_uses_its_parents_kept_connections(receiver):
    post(_target(receiver.port), body=b"{}", headers={})
    assert len(outbound._kept._idle) == 1

    child = os.fork()
    if child == 0:  # as a Celery pool process after the fork: no kept connection, a lock of its own
        os._exit(0 if outbound._kept._idle == {} and outbound._kept._lock.acquire(timeout=1) else 1)
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert len(outbound._kept._idle) == 1  # the parent's is still there


def test_a_different_checked_address_is_a_different_connection(receiver):
    post(_target(receiver.port), body=b"{}", headers={})
    other = Target("http", "127.0.0.1", receiver.port, "/", ("127.0.0.1", "127.0.0.2"))

    assert post(other, body=b"{}", headers={}).status == 200
    assert receiver.connections_opened == 2


class _ScriptedReceiver:
    """A raw HTTP/1.1 server: answers the n-th request it reads with `answers[n]` (bytes, written as they are) and
    records each request's body. After the last answer it holds the connection open for a second, or, with
    `reset_after_last`, resets it at once (RST, not FIN)."""

    def __init__(self, answers: list[bytes], *, reset_after_last: bool = False):
        self.answers, self.reset_after_last, self.requests, self.connections = answers, reset_after_last, [], 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                self.connections += 1
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, suppress(OSError):
            buffer = b""
            for answer in self.answers[len(self.requests) :]:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                self.requests.append(buffer[:length])
                buffer = buffer[length:]
                conn.sendall(answer)
            if self.reset_after_last:
                time.sleep(0.1)  # the partial answer reaches the sender first
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            time.sleep(1)

    def close(self) -> None:
        self.listener.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_an_interim_1xx_answer_never_leaves_its_connection_kept():
    server = _ScriptedReceiver([b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + OK, OK])
    try:
        answer = post(_target(server.port), body=b"{}", headers={})
        assert answer.status == 103  # taken as the answer (not 2xx: retried later), but its connection is not kept
        assert outbound._kept._idle == {}
        assert post(_target(server.port), body=b"{}", headers={}).status == 200
        assert server.connections == 2
    finally:
        server.close()
        outbound._kept.close_all()


def test_a_kept_connection_reset_after_the_status_line_is_not_sent_again():
    """The receiver started answering (a status line), then reset: it may have acted on the POST, so no second
    try; the attempt is an error, retried by the schedule."""
    partial = b"HTTP/1.1 200 OK\r\n"
    server = _ScriptedReceiver([OK, partial], reset_after_last=True)
    try:
        assert post(_target(server.port), body=b"{}", headers={}).status == 200
        answer = post(_target(server.port), body=b'{"n":2}', headers={}, total_timeout=3)

        assert answer.status is None and answer.error
        assert server.requests == [b"{}", b'{"n":2}'] and server.connections == 1
    finally:
        server.close()
        outbound._kept.close_all()


def _target(port: int) -> Target:
    return Target("http", "127.0.0.1", port, "/", ("127.0.0.1",))


# The answer's parsing (httptools): the framings a receiver may use, and what it may get wrong.
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    "answers, expected_body",
    [
        pytest.param([CHUNKED, OK], b"ok!!!", id="chunked"),
        pytest.param([b"HTTP/1.1 100 Continue\r\n\r\n" + OK, OK], b"ok", id="100-continue-skipped"),
    ],
)
def test_an_answer_read_to_its_end_keeps_its_connection(answers, expected_body):
    server = _ScriptedReceiver(answers)
    try:
        first = post(_target(server.port), body=b"{}", headers={})
        second = post(_target(server.port), body=b"{}", headers={})

        assert (first.status, first.body, first.error) == (200, expected_body, None)
        assert second.status == 200 and server.connections == 1
    finally:
        server.close()
        outbound._kept.close_all()


def test_a_body_that_ends_with_the_connection_is_read_and_the_connection_not_kept():
    server = _ScriptedReceiver([b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nclosed at the end"])
    try:
        answer = post(_target(server.port), body=b"{}", headers={}, total_timeout=5)

        assert (answer.status, answer.body) == (200, b"closed at the end")
        assert outbound._kept._idle == {}
    finally:
        server.close()
        outbound._kept.close_all()


@pytest.mark.parametrize("after", [b"HTTP/1.1 200 OK\r\n", b"\x00garbage\r\n\r\n"], ids=["a-next-head", "garbage"])
def test_bytes_after_the_answer_leave_its_connection_unkept(after):
    server = _ScriptedReceiver([OK + after, OK])
    try:
        answer = post(_target(server.port), body=b"{}", headers={})
        assert (answer.status, answer.body, answer.error) == (200, b"ok", None)
        assert outbound._kept._idle == {}
    finally:
        server.close()
        outbound._kept.close_all()


@pytest.mark.parametrize(
    "answer, error",
    [
        pytest.param(b"SMTP ready\r\n\r\n", "malformed answer", id="not-http"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 81920 + b"\r\n\r\nok", "head is over", id="huge-head"),
    ],
)
def test_an_answer_that_is_not_http_is_an_error_not_an_exception(answer, error):
    server = _ScriptedReceiver([answer])
    try:
        result = post(_target(server.port), body=b"{}", headers={}, total_timeout=3)

        assert result.status is None and error in result.error, result
        assert outbound._kept._idle == {}
    finally:
        server.close()
        outbound._kept.close_all()
