"""A steady command load: upstream clients submitting each ticket's commands, in order, over HTTP.

Every command carries an Idempotency-Key, so a client may retry it after a 503 (or a dropped connection) without
ever submitting it twice: that is what a well-behaved upstream system does while the service is degraded.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

RETRY_PAUSE = 0.2


@dataclass
class Submission:
    key: str
    ticket_id: int
    body: dict
    command_id: str | None = None
    statuses: list[int] = field(default_factory=list)
    replayed: bool = False


@dataclass
class Unavailable:
    """One 503 answer: what it looked like, and when its request was sent and answered (seconds since the load
    started)."""

    sent: float
    at: float
    content_type: str
    retry_after: str | None
    code: str | None


class Load:
    """Clients in `threads` threads submit `steps` for every ticket, step by step, at about `rate` commands/s.

    `tickets` are dicts with `ticket_id` and the technician's `token`. Submission order within a ticket is the
    step order (each POST is answered before the next is sent), so every lane sees its commands in order.
    """

    def __init__(self, base_url: str, tickets: list[dict], steps: list[str], *, name: str, rate: float, threads=8):
        self.base_url, self.tickets, self.steps, self.name = base_url, tickets, steps, name
        self.rate, self.threads = rate, threads
        self._plan = [
            [(t, i, s) for i, s in enumerate(steps) for t in tickets[lane::threads]] for lane in range(threads)
        ]
        self.by_key: dict[str, Submission] = {}
        self.unavailable: list[Unavailable] = []
        self.unexpected: list[str] = []
        self.transport_errors: list[str] = []
        self.status_counts: Counter = Counter()
        self.given_up: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.started = None
        self.last_accepted = 0.0

    @property
    def total(self) -> int:
        return len(self.tickets) * len(self.steps)

    def accepted(self) -> int:
        with self._lock:
            return sum(1 for s in self.by_key.values() if s.command_id)

    def command_ids(self) -> list[str]:
        with self._lock:
            return [s.command_id for s in self.by_key.values() if s.command_id]

    def start(self) -> "Load":
        self.started = time.monotonic()
        for lane, plan in enumerate(self._plan):
            thread = threading.Thread(target=self._client, args=(plan,), name=f"load-{self.name}-{lane}", daemon=True)
            self._workers.append(thread)
            thread.start()
        return self

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._workers):
            self.stop()
            raise AssertionError(f"the load did not finish submitting within {timeout}s ({self.accepted()} accepted)")

    def wait_accepted(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.accepted() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.accepted()} of {count} commands accepted after {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(10)

    def _client(self, plan) -> None:
        tokens = {t["ticket_id"]: t["token"] for t, _, _ in plan}
        interval = self.threads / self.rate
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            for index, (ticket, step_index, step) in enumerate(plan):
                if self._stop.is_set():
                    return
                delay = self.started + index * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                submission = Submission(
                    key=f"fault-{self.name}-{ticket['ticket_id']}-{step_index}",
                    ticket_id=ticket["ticket_id"],
                    body={"type": step, "ticket_id": ticket["ticket_id"]},
                )
                with self._lock:
                    self.by_key[submission.key] = submission
                self._submit(http, tokens[ticket["ticket_id"]], submission)

    def _submit(self, http: httpx.Client, token: str, submission: Submission, give_up_after: float = 120) -> None:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": submission.key}
        deadline = time.monotonic() + give_up_after
        while not self._stop.is_set():
            sent = time.monotonic() - self.started
            try:
                response = http.post("/api/v1/commands", json=submission.body, headers=headers)
            except httpx.TransportError as exc:
                with self._lock:
                    self.transport_errors.append(f"{submission.key}: {type(exc).__name__}: {exc}")
            else:
                submission.statuses.append(response.status_code)
                with self._lock:
                    self.status_counts[response.status_code] += 1
                if response.status_code in (200, 202):
                    with self._lock:
                        submission.command_id = response.json()["id"]
                        submission.replayed = response.headers.get("Idempotent-Replayed") == "true"
                        self.last_accepted = max(self.last_accepted, time.monotonic() - self.started)
                    return
                if response.status_code == 503:
                    self._record_unavailable(response, sent)
                elif response.status_code != 429:
                    with self._lock:
                        self.unexpected.append(f"{submission.key}: {response.status_code} {response.text[:300]}")
                    return
            if time.monotonic() > deadline:
                with self._lock:
                    self.given_up.append(submission.key)
                return
            time.sleep(RETRY_PAUSE)

    def _record_unavailable(self, response: httpx.Response, sent: float) -> None:
        try:
            code = response.json().get("code")
        except ValueError:
            code = None
        with self._lock:
            self.unavailable.append(
                Unavailable(
                    sent=sent,
                    at=time.monotonic() - self.started,
                    content_type=response.headers.get("Content-Type", ""),
                    retry_after=response.headers.get("Retry-After"),
                    code=code,
                )
            )

    def figures(self) -> dict:
        with self._lock:
            return {
                "tickets": len(self.tickets),
                "commands_planned": self.total,
                "commands_accepted": sum(1 for s in self.by_key.values() if s.command_id),
                "replayed_after_retry": sum(1 for s in self.by_key.values() if s.replayed),
                "http_statuses": {str(k): v for k, v in sorted(self.status_counts.items())},
                "unavailable_503": len(self.unavailable),
                "transport_errors": len(self.transport_errors),
                "unexpected_responses": self.unexpected[:20],
                "given_up": len(self.given_up),
                "submit_seconds": round(self.last_accepted, 2),
            }
