"""One POST to a webhook's receiver, treating the far end as hostile.

- The connection goes to an address `targets.resolve` checked: no second DNS lookup (rebinding), the URL's host is
  sent as `Host` and as the TLS server name (certificates are verified against it).
- Connect timeout, and a total deadline for the whole exchange: every socket read waits at most what is left of it.
- Redirects are answers like any other non-2xx (nothing here follows them).
- At most 64 KiB of the response body is read, and of its head; the answer is parsed by httptools (llhttp).
- Keep-alive: a connection whose answer was read in full, and whose receiver did not say `Connection: close`, is
  kept (one per target and process, for up to IDLE_SECONDS) for the next POST to the same checked addresses; a
  connection the receiver closed meanwhile is noticed before it is used, and a POST that finds it dead before a
  status line came back is sent once more on a new connection. A delivery is then at most sent twice, which the
  contract allows (receivers deduplicate on `webhook-id`); a new TCP (and TLS) handshake per delivery, on both
  ends, is what this saves.
"""

import http.client
import os
import select
import socket
import ssl
import threading
import time
from contextlib import suppress
from dataclasses import dataclass

import httptools

from apps.webhooks.targets import Target

CONNECT_TIMEOUT_SECONDS = 3.0
TOTAL_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers (http.client's cap on a line)
_CHUNK = 8192
# How long an idle connection is kept for the next POST: below the common servers' keep-alive timeouts (nginx 75 s,
# Go 90 s), above the gap between a busy shop's deliveries. A receiver that closes sooner is noticed before reuse.
IDLE_SECONDS = 15.0
MAX_KEPT = 64  # idle connections per process, across targets
# Errors that say a connection died; before any status line came back, a kept one is then tried again on a new one.
_DEAD_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (see error)
    body: bytes  # at most MAX_RESPONSE_BYTES
    error: str | None
    duration_ms: int


class _Deadline:
    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete answer within {TOTAL_TIMEOUT_SECONDS:g} s")
        return remaining


def post(target: Target, *, body: bytes, headers: dict[str, str], total_timeout: float = TOTAL_TIMEOUT_SECONDS):
    """POST `body` to `target`; never raises for what the network or the receiver does."""
    started = time.monotonic()
    deadline = _Deadline(total_timeout)
    request = _request_bytes(target, body, headers)
    sock = _kept.take(target)
    try:
        if sock is not None:
            try:
                return _exchange(sock, target, request, deadline, started)
            except _NothingAnswered:
                sock.close()  # the receiver had closed it: not a byte of an answer came, so send again
        sock = _connect(target, deadline)
        try:
            return _exchange(sock, target, request, deadline, started)
        except _NothingAnswered as nothing:
            raise nothing.__cause__ from None
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        if sock is not None:
            sock.close()
        return Answer(None, b"", _describe(error), _ms_since(started))
    except BaseException:  # a bug or a signal: the half-used connection is never kept
        if sock is not None:
            sock.close()
        raise


class _NothingAnswered(Exception):
    """The connection failed before a status line came back (its cause says how): on a kept connection, the
    receiver's close crossing the POST, so the POST may go again on a new one."""


def _exchange(sock: socket.socket, target: Target, request: bytes, deadline: _Deadline, started: float) -> Answer:
    """Send the request on `sock`, read the answer, and keep the connection if it may serve another POST."""
    answer = _Reading()
    try:
        sock.settimeout(deadline.left())
        sock.sendall(request)
        _ack_at_once(sock)
        answer.read_head(sock, deadline)
    except _DEAD_CONNECTION as error:
        if not answer.head_bytes:  # not a byte came back: the receiver answered nothing
            raise _NothingAnswered from error
        raise
    answer.read_body(sock, deadline)
    if answer.reusable:
        _kept.give_back(target, sock)
    else:
        sock.close()
    return Answer(answer.status, bytes(answer.body), None, _ms_since(started))


class _Reading:
    """An answer as httptools (llhttp, the parser under uvicorn) reads it: its status, at most MAX_RESPONSE_BYTES of
    its body, and whether it came to its end. httptools parses a head in microseconds where http.client spends
    some 80 µs of a worker's CPU per answer in its email-based header parser.

    `100 Continue` is skipped (as http.client does); any other 1xx is taken as the answer, and its connection is not
    kept (a final answer may still follow it on the wire)."""

    __slots__ = ("body", "complete", "cut_short", "head_bytes", "keep_alive", "parser", "status")

    def __init__(self):
        self.parser = httptools.HttpResponseParser(self)
        self.status: int | None = None
        self.body = bytearray()
        self.head_bytes = 0
        self.complete = False  # the answer was read to its end
        self.cut_short = False  # more came than is read: a longer body, or bytes after the answer
        self.keep_alive = False  # the receiver keeps the connection open (HTTP/1.1, no `Connection: close`)

    # httptools' callbacks (the parser goes on past the answer's end: what follows it is only noted)
    def on_message_begin(self) -> None:
        self.cut_short = self.cut_short or self.complete

    def on_headers_complete(self) -> None:
        if not self.complete:
            self.status = self.parser.get_status_code()
            self.keep_alive = self.parser.should_keep_alive()  # llhttp answers this only until the message ends

    def on_body(self, chunk: bytes) -> None:
        if self.complete:
            return
        room = MAX_RESPONSE_BYTES - len(self.body)
        self.body += chunk[:room]
        self.cut_short = self.cut_short or len(chunk) > room

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if self.status == 100:
            self.status = None  # the final answer follows
        else:
            self.complete = True

    def read_head(self, sock: socket.socket, deadline: _Deadline) -> None:
        """Read until the answer's status is known. Raises what the connection or the parser raises: no answer."""
        while self.status is None:
            data = self._receive(sock, deadline)
            if not data:
                raise http.client.RemoteDisconnected("Remote end closed connection without response")
            self.head_bytes += len(data)  # counted first: a byte of an answer has come, whatever it says
            self._feed(data)
            if self.status is None and self.head_bytes > MAX_HEAD_BYTES:
                raise http.client.HTTPException(f"the answer's head is over {MAX_HEAD_BYTES} bytes")

    def read_body(self, sock: socket.socket, deadline: _Deadline) -> None:
        """Read the body, up to MAX_RESPONSE_BYTES, within the deadline. The status has arrived and decides the
        outcome: a body cut short by the deadline, the peer or a malformed chunk is kept as far as it came."""
        try:
            while not self.complete and not self.cut_short and self.status >= 200:
                data = self._receive(sock, deadline)
                if not data:
                    return  # a body that ends with the connection (or a peer gone mid-body)
                self._feed(data)
        except (OSError, http.client.HTTPException):
            pass

    @property
    def reusable(self) -> bool:
        """A final answer, read to its end, from a receiver that keeps the connection open."""
        return self.complete and not self.cut_short and self.status >= 200 and self.keep_alive

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.complete = False  # the rest is another protocol's: the connection is not kept
        except httptools.HttpParserError as error:
            if self.status is None:
                raise http.client.HTTPException(f"malformed answer: {error}") from None
            self.cut_short = True  # after the head (a bad chunk, bytes after the end): the status stands, unkept

    @staticmethod
    def _receive(sock: socket.socket, deadline: _Deadline) -> bytes:
        sock.settimeout(deadline.left())
        return sock.recv(_CHUNK)


class _KeptConnections:
    """Idle connections by target (its scheme, host, port and checked addresses), one each, at most MAX_KEPT, in
    this process only: a forked child (a Celery pool process) starts with none and a lock of its own."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # In a forked child: the parent's sockets are the parent's to close, and its lock may have been held.
        self._lock = threading.Lock()
        self._idle: dict[Target, tuple[socket.socket, float]] = {}

    def take(self, target: Target) -> socket.socket | None:
        with self._lock:
            sock, since = self._idle.pop(_pool_key(target), (None, 0.0))
        if sock is None:
            return None
        if time.monotonic() - since > IDLE_SECONDS or _closed_by_peer(sock):
            sock.close()
            return None
        return sock

    def give_back(self, target: Target, sock: socket.socket) -> None:
        key, now = _pool_key(target), time.monotonic()
        with self._lock:
            # Two POSTs to one target at once: keep the one just used. A target no longer posted to leaves no
            # socket behind for long: whatever has idled past IDLE_SECONDS goes too, and the oldest past MAX_KEPT.
            stale = [k for k, (_, since) in self._idle.items() if k == key or now - since > IDLE_SECONDS]
            to_close = [self._idle.pop(k)[0] for k in stale]
            while len(self._idle) >= MAX_KEPT:
                oldest = min(self._idle, key=lambda k: self._idle[k][1])
                to_close.append(self._idle.pop(oldest)[0])
            self._idle[key] = (sock, now)
        for old in to_close:
            old.close()

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for sock, _ in idle.values():
            sock.close()


def _pool_key(target: Target) -> Target:
    return Target(target.scheme, target.host, target.port, "", target.addresses)


def _ack_at_once(sock: socket.socket) -> None:
    """Acknowledge the answer's first segment at once (Linux; the kernel drops the flag again by itself). A receiver
    that writes its headers and its body separately with Nagle's algorithm on (Python's http.server, say) holds the
    body back until that acknowledgement, which Linux delays by 40 ms: on a connection kept open (no FIN to push the
    body out), that was 40 ms per delivery."""
    if hasattr(socket, "TCP_QUICKACK"):
        with suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle connection has nothing to read: readable (or, with TLS, bytes already decrypted and buffered) means
    the receiver closed it or sent what it may not."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()  # not select(): a worker may hold file descriptors numbered past select's 1024
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


_kept = _KeptConnections()


def _connect(target: Target, deadline: _Deadline) -> socket.socket:
    last_error: OSError | None = None
    for address in target.addresses:
        try:
            sock = socket.create_connection(
                (address, target.port), timeout=min(CONNECT_TIMEOUT_SECONDS, deadline.left())
            )
        except OSError as error:
            last_error = error
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a request's last small segment goes at once
        if target.scheme == "https":
            context = ssl.create_default_context()
            sock.settimeout(deadline.left())
            return context.wrap_socket(sock, server_hostname=target.host)
        return sock
    raise last_error or OSError("no address to connect to")


def _request_bytes(target: Target, body: bytes, headers: dict[str, str]) -> bytes:
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if ":" not in target.host else f"[{target.host}]"
    host_header = host if target.port == default_port else f"{host}:{target.port}"
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {host_header}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _describe(error: Exception) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return f"timed out: {error}" if str(error) else "timed out"
    name = type(error).__name__
    return f"{name}: {error}"[:300] if str(error) else name


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
