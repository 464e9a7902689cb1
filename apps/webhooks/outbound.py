"""One POST to a webhook's receiver, treating the far end as hostile.

- The connection goes to an address `targets.resolve` checked: no second DNS lookup (rebinding), the URL's host is
  sent as `Host` and as the TLS server name (certificates are verified against it).
- Connect timeout, and a total deadline for the whole exchange: every socket read waits at most what is left of it.
- Redirects are answers like any other non-2xx (http.client never follows them).
- At most 64 KiB of the response is read; the connection is closed after.
"""

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from apps.webhooks.targets import Target

CONNECT_TIMEOUT_SECONDS = 3.0
TOTAL_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
_CHUNK = 8192


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
    sock = None
    try:
        sock = _connect(target, deadline)
        sock.settimeout(deadline.left())
        request = _request_bytes(target, body, headers)
        sock.sendall(request)
        sock.settimeout(deadline.left())
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        received = _read_capped(response, sock, deadline)
        return Answer(response.status, received, None, _ms_since(started))
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        return Answer(None, b"", _describe(error), _ms_since(started))
    finally:
        if sock is not None:
            sock.close()


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
    lines.append("Connection: close")
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
