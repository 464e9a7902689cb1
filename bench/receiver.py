"""The webhook scenarios' receiver: a process of its own that answers every POST `200 ok` at once, on connections
kept open (HTTP/1.1), and does nothing else.

A receiver runs on another machine in production; here it shares the two cores with what is measured, so what it
costs is kept small and reported apart (`cpu_seconds`). The tests' receiver (tests/support/receiver.py: verifies
signatures, records every delivery) cost the harness about 0.3 ms of CPU per request, in the process that also
drives the clients. The deliveries themselves are checked in the database (attempt rows), not here.

Run as `python -m bench.receiver`: it prints its port, then serves until terminated.
"""

import asyncio
import subprocess
import sys

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
_LENGTH = b"\r\ncontent-length:"


class _AnswerEveryRequest(asyncio.Protocol):
    """Reads requests one after the other on a connection (head, then Content-Length bytes of body) and answers each."""

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (head_end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:head_end]).lower()
            length = _content_length(head)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return  # the rest of the body is on its way
            del self.buffer[:end]
            self.transport.write(ANSWER)


def _content_length(head: bytes) -> int:
    at = head.find(_LENGTH)
    if at < 0:
        return 0
    value_end = head.find(b"\r\n", at + len(_LENGTH))  # -1: the head's last line
    return int(head[at + len(_LENGTH) : value_end if value_end >= 0 else None])


async def _serve() -> None:
    server = await asyncio.get_running_loop().create_server(_AnswerEveryRequest, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class LeanReceiver:
    """The receiver's process, started and stopped by a scenario."""

    def __init__(self):
        self._process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> "LeanReceiver":
        self._process = subprocess.Popen([sys.executable, "-m", "bench.receiver"], stdout=subprocess.PIPE, text=True)
        self.port = int(self._process.stdout.readline())
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/ticketflow"

    def cpu_seconds(self) -> float:
        from bench.stack import cpu_seconds  # not at the top: the receiver's own process needs none of the bench

        return cpu_seconds(self._process.pid) if self._process is not None else 0.0


if __name__ == "__main__":
    asyncio.run(_serve())
