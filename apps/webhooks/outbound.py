"""One POST to a webhook's receiver, treating the far end as hostile.

- The connection goes to an address `targets.resolve` checked: no second DNS lookup (rebinding), the URL's host is
  sent as `Host` and as the TLS server name (certificates are verified against it).
- Connect timeout, and a total deadline for the whole exchange: every socket read waits at most what is left of it.
- Redirects are answers like any other non-2xx (http.client never follows them).
- At most 64 KiB of the response is read.
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

from apps.webhooks.targets import Target

CONNECT_TIMEOUT_SECONDS = 3.0
TOTAL_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
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
    response = http.client.HTTPResponse(sock, method="POST")
    try:
        sock.settimeout(deadline.left())
        sock.sendall(request)
        _ack_at_once(sock)
        sock.settimeout(deadline.left())
        response.begin()
    except _DEAD_CONNECTION as error:
        if not isinstance(response.status, int):  # no status line parsed: the receiver answered nothing
            raise _NothingAnswered from error
        raise
    received = _read_capped(response, sock, deadline)
    # A final answer (a 1xx other than 100, which http.client skips, may still be followed by one), read to its end
    # (read1 leaves a sized body's file open at length 0), from a receiver that keeps the connection open.
    if response.status >= 200 and (response.isclosed() or response.length == 0) and not response.will_close:
        _kept.give_back(target, sock)
    else:
        sock.close()
    return Answer(response.status, received, None, _ms_since(started))


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


def _read_capped(response: http.client.HTTPResponse, sock: socket.socket, deadline: _Deadline) -> bytes:
    """Up to MAX_RESPONSE_BYTES of the body, within the deadline. The status has arrived, and it decides the
    outcome: a body cut short by the deadline or the peer is kept as far as it came."""
    received = bytearray()
    try:
        while len(received) < MAX_RESPONSE_BYTES:
            sock.settimeout(deadline.left())
            chunk = response.read1(min(_CHUNK, MAX_RESPONSE_BYTES - len(received)))
            if not chunk:
                break
            received += chunk
    except (OSError, http.client.HTTPException):
        pass
    return bytes(received)


def _describe(error: Exception) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return f"timed out: {error}" if str(error) else "timed out"
    name = type(error).__name__
    return f"{name}: {error}"[:300] if str(error) else name


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
