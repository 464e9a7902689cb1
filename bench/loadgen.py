"""Concurrent HTTP clients: one thread and one keep-alive httpx.Client each, recording every round trip."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

STOP = threading.Event()  # set on Ctrl-C: every client returns after its current request
RETRY_503_BACKOFF = (0.2, 0.5, 1, 2, 4)  # seconds


@dataclass(frozen=True)
class Sample:
    sent: float  # time.perf_counter() when the request was sent
    seconds: float  # round trip
    status: int


@dataclass
class Client:
    index: int
    http: httpx.Client
    samples: list[Sample] = field(default_factory=list)

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs) -> httpx.Response:
        """One request; a `503` (the shared PostgreSQL out of connections, say) is retried as a client would,
        after a short backoff, and every attempt is recorded."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for backoff in (*RETRY_503_BACKOFF, None):
            sent = time.perf_counter()
            response = self.http.request(method, path, headers=headers, **kwargs)
            self.samples.append(Sample(sent, time.perf_counter() - sent, response.status_code))
            if response.status_code != 503 or backoff is None or STOP.is_set():
                return response
            time.sleep(backoff)
        return response


class Pacer:
    """Open-loop pacing shared by `clients` threads: client i's n-th request is due at start + (n·clients + i) / rate.

    A client that falls behind sends at once (it never skips), so the offered rate is at most `rate`. The clock
    starts with the first request, not when the pacer is made: building the clients takes a while (an httpx
    client builds an SSL context), and every slot already past would go out at once, a burst of dozens of
    requests at a phase's start that would make up the whole latency tail of a paced phase.
    """

    def __init__(self, rate: float, clients: int):
        self.rate, self.clients = rate, clients
        self.start: float | None = None
        self._starting = threading.Lock()

    def wait(self, client: int, n: int) -> None:
        if self.start is None:
            with self._starting:
                if self.start is None:
                    self.start = time.perf_counter() + 0.05
        delay = self.start + (n * self.clients + client) / self.rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def run_clients(
    base_url: str,
    count: int,
    work: Callable[[Client], None],
    *,
    on_tick: Callable[[], None] | None = None,
    tick: float = 0.2,
    timeout: float = 30,
) -> list[Sample]:
    """Run `work(client)` in `count` threads at once; return every request's sample. A client's error is raised."""
    STOP.clear()
    clients = [
        Client(i, httpx.Client(base_url=base_url, timeout=timeout, limits=httpx.Limits(max_connections=1)))
        for i in range(count)
    ]
    errors: list[BaseException] = []

    def body(client: Client) -> None:
        try:
            work(client)
        except BaseException as exc:
            errors.append(exc)
            STOP.set()

    threads = [threading.Thread(target=body, args=(c,), name=f"client-{c.index}", daemon=True) for c in clients]
    try:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            if on_tick is not None:
                on_tick()
            threads[0].join(tick) if threads[0].is_alive() else time.sleep(tick)
        if on_tick is not None:
            on_tick()
    except KeyboardInterrupt:
        STOP.set()
        raise
    finally:
        for client in clients:
            client.http.close()
    if errors:
        raise errors[0]
    return [sample for client in clients for sample in client.samples]
