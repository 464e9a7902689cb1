"""Celery's monitoring events (what Flower shows), recorded from the broker while a block runs."""

import threading
import time

from celery import current_app


class EventRecorder:
    """Every event published on the broker while the block runs, in `events` (dicts with `type`, `uuid`, ...).

    Events are Redis pub/sub messages: one published before the receiver subscribed is gone, so the block starts
    after a short settle, and a test proves the receiver heard by waiting for an event it caused (`wait_for`).
    """

    SETTLE_SECONDS = 1.0

    def __init__(self):
        self.events: list[dict] = []

    def __enter__(self) -> "EventRecorder":
        self.connection = current_app.connection_for_read()
        self.receiver = current_app.events.Receiver(self.connection, handlers={"*": self.events.append})
        self.thread = threading.Thread(
            target=self.receiver.capture, kwargs={"limit": None, "timeout": None, "wakeup": False}, daemon=True
        )
        self.thread.start()
        time.sleep(self.SETTLE_SECONDS)
        return self

    def __exit__(self, *exc_info) -> None:
        self.receiver.should_stop = True
        self.thread.join(timeout=5)
        self.connection.release()

    def of_task(self, task_id: str) -> list[str]:
        return [event["type"] for event in list(self.events) if event.get("uuid") == task_id]

    def wait_for(self, task_id: str, event_type: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while event_type not in self.of_task(task_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event_type} event for {task_id}; heard {len(self.events)} events")
            time.sleep(0.1)
