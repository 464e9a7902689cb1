"""A webhook receiver for the tests: a real HTTP server on loopback, in a thread of the test process.

It verifies every delivery's Standard Webhooks signature (with the `standardwebhooks` package, as README's example
does) against the secrets it was told, records what arrived, and answers what the test says: a status, a body, a
delay. It speaks HTTP/1.1 and keeps connections open between requests, as real receivers do. `stop()` closes the
port and every open connection (the receiver is down); `start()` opens it again on the same port.
"""

import json
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError


@dataclass
class Delivery:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    event: dict
    verified_by: list[str]  # the secrets that verify its signature
    answered: int
    received_at: float = field(default_factory=time.monotonic)  # this process's monotonic clock


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    status: int = 200
    reply: bytes = b"ok"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (a redirect's Location)
    deliveries: list[Delivery] = field(default_factory=list)
    port: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._stopped = False
        self.connections_opened = 0  # TCP connections accepted since the receiver was made
        self.in_flight = 0  # requests being answered now (a fault test kills the sender mid-delivery)

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> "Receiver":
        receiver = self
        self._stopped = False

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the connection serves the sender's next request too

            def setup(self):
                super().setup()
                with receiver._lock:
                    receiver.connections_opened += 1
                    if receiver._stopped:  # accepted just before stop(): a stopped receiver answers nothing
                        self.connection.shutdown(socket.SHUT_RDWR)
                    else:
                        receiver._connections.add(self.connection)

            def finish(self):
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.in_flight += 1
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    # Recorded as processed even if the sender dies before reading the answer: it will send again.
                    receiver._record(dict(self.headers.items()), body)
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", str(len(receiver.reply)))
                    for name, value in receiver.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(receiver.reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender died waiting (a killed worker): it will send again
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            do_GET = do_POST

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the connections kept open and the port: deliveries now fail to connect."""
        with self._lock:
            self._stopped = True
            connections, self._connections = self._connections, set()
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/ticketflow"

    # --- what arrived ----------------------------------------------------------------------------------

    def _record(self, headers: dict[str, str], body: bytes) -> None:
        verified_by = []
        for secret in self.secrets:
            try:
                StandardWebhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified_by.append(secret)
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        lowered = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            self.deliveries.append(
                Delivery(lowered.get("webhook-id", ""), lowered, body, event, verified_by, self.status)
            )

    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def accepted(self) -> list[Delivery]:
        """The deliveries it answered with a 2xx."""
        return [d for d in self.received() if 200 <= d.answered < 300]

    def unique_accepted(self) -> list[dict]:
        """What a receiver deduplicating on `webhook-id` keeps: each event once, in the order first accepted."""
        seen, events = set(), []
        for delivery in self.accepted():
            if delivery.webhook_id not in seen:
                seen.add(delivery.webhook_id)
                events.append(delivery.event)
        return events
