"""The process's one pub/sub listener wakes every waiting thread with its own channel's message, against the real
Redis: one subscriber connection however many wait, no announcement missed between subscribing and the first read,
and waits that still end after Redis drops the connection."""

import threading
import time
import uuid

import pytest

from apps.commands import listener as listener_module
from apps.commands.listener import listener
from apps.commands.notify import channel as command_channel
from apps.commands.waiting import REREAD_SECONDS, wait_for
from apps.common.redis_client import redis_client

WAITERS = 40
# Woken by its message, a waiter returns in milliseconds; the re-read that covers a lost message comes after a
# second. Anything under half of that was a wake-up.
WOKEN_WITHIN = REREAD_SECONDS / 2


@pytest.fixture
def fresh_listener(monkeypatch):
    """A process that has not waited yet: its first waiter starts the listener."""
    monkeypatch.setattr(listener_module, "_listener", None)
    yield
    # The old listener's thread stays (a daemon on a connection of its own); the next test makes a new one.


def _channel(tag: str) -> str:
    return f"test-wakeups:{tag}:{uuid.uuid4().hex}"


def _command_channel(tag: str) -> str:
    """A finished command's channel: covered by the listener's standing pattern, not subscribed one by one."""
    return command_channel(uuid.uuid4())


# Each kind of channel a wait may be on: subscribed for its waiters, or under the standing pattern.
CHANNEL_KINDS = [pytest.param(_channel, id="subscribed"), pytest.param(_command_channel, id="standing-pattern")]


def _subscribers_of_this_process() -> list[dict]:
    """The Redis connections of this process's listener (those of listeners earlier tests replaced excluded),
    subscribed to something or not: a listener whose last waiter left unsubscribes, and Redis then no longer
    lists its connection among the pub/sub ones."""
    name = listener().client_name
    return [c for c in redis_client().client_list() if c.get("name") == name]


def _until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_many_threads_waiting_on_different_channels_are_each_woken_by_their_own_message(fresh_listener):
    channels = [_channel(f"many-{n}") for n in range(WAITERS)]
    finished = [threading.Event() for _ in channels]  # what each waiter's read would find in the database
    returned_at: list[float | None] = [None] * WAITERS
    answers: list[bool | None] = [None] * WAITERS

    def wait(n: int) -> None:
        answers[n] = wait_for(channels[n], ready=finished[n].is_set, seconds=10)
        returned_at[n] = time.monotonic()

    threads = [threading.Thread(target=wait, args=(n,)) for n in range(WAITERS)]
    for thread in threads:
        thread.start()
    # Every waiter subscribed, all over one connection of this process.
    _until(lambda: sum(int(c["sub"]) for c in _subscribers_of_this_process()) == WAITERS)
    assert len(_subscribers_of_this_process()) == 1

    # Finish them one at a time, in an order of their own: each returns on its own message, the others keep waiting.
    order = list(range(0, WAITERS, 2)) + list(range(1, WAITERS, 2))
    for n in order:
        finished[n].set()
        announced = time.monotonic()
        redis_client().publish(channels[n], b"1")
        _until(lambda n=n: returned_at[n] is not None, timeout=WOKEN_WITHIN)
        assert returned_at[n] - announced < WOKEN_WITHIN
        assert all(returned_at[m] is None for m in order[order.index(n) + 1 :])
    for thread in threads:
        thread.join(timeout=5)
    assert answers == [True] * WAITERS
    # Nobody waits any more: the next subscription change drops the channels (one waiter on a channel of its own).
    assert wait_for(_channel("after"), ready=lambda: True, seconds=1)
    _until(lambda: sum(int(c["sub"]) for c in _subscribers_of_this_process()) <= 1)


@pytest.mark.parametrize("make_channel", CHANNEL_KINDS)
def test_an_announcement_right_after_the_first_read_wakes_the_waiter(fresh_listener, make_channel):
    """The race the subscribe-before-read order closes: the waiter reads (not final), then the worker commits and
    announces before the waiter sleeps. Were the read made before Redis had the subscription, the message would go
    to nobody and the waiter would sleep until its re-read. From the very first wait of the process, and after."""
    for attempt in range(30):
        channel = make_channel(f"race-{attempt}")
        state = {"final": False, "reads": 0}

        def ready(channel=channel, state=state) -> bool:
            state["reads"] += 1
            answer = state["final"]
            if state["reads"] == 1:  # the finish lands between this read and the sleep
                state["final"] = True
                redis_client().publish(channel, b"1")
            return answer

        started = time.monotonic()
        assert wait_for(channel, ready=ready, seconds=5)
        assert time.monotonic() - started < WOKEN_WITHIN, f"attempt {attempt}: woken by the re-read, not the message"
        assert state["reads"] == 2


@pytest.mark.parametrize("make_channel", CHANNEL_KINDS)
def test_waits_survive_redis_dropping_the_subscriber_connection(fresh_listener, make_channel):
    first = make_channel("before-drop")
    assert wait_for(first, ready=lambda: True, seconds=1)  # starts the listener
    _until(lambda: len(_subscribers_of_this_process()) == 1)
    (subscriber,) = _subscribers_of_this_process()

    finished = threading.Event()
    answer: list[bool] = []
    channel = make_channel("across-drop")
    waiter = threading.Thread(target=lambda: answer.append(wait_for(channel, ready=finished.is_set, seconds=10)))
    waiter.start()
    _until(lambda: any(_subscriptions(c) >= 1 for c in _subscribers_of_this_process()))
    redis_client().client_kill_filter(_id=subscriber["id"])
    # The listener reconnects and subscribes again: the message after that wakes the waiter.
    _until(lambda: any(c["id"] != subscriber["id"] and _subscriptions(c) >= 1 for c in _subscribers_of_this_process()))
    finished.set()
    announced = time.monotonic()
    redis_client().publish(channel, b"1")
    waiter.join(timeout=5)
    assert answer == [True]
    assert time.monotonic() - announced < REREAD_SECONDS + 0.5


def _subscriptions(client: dict) -> int:
    return int(client["sub"]) + int(client["psub"])


def test_waits_on_commands_cost_no_subscription_each(fresh_listener):
    """Every finished command's channel is under one standing pattern: however many wait, the listener's connection
    holds that pattern and no channel of its own, and each waiter is still woken by its own message alone."""
    channels = [_command_channel("many") for _ in range(WAITERS)]
    finished = [threading.Event() for _ in channels]
    returned_at: list[float | None] = [None] * WAITERS

    def wait(n: int) -> None:
        assert wait_for(channels[n], ready=finished[n].is_set, seconds=10)
        returned_at[n] = time.monotonic()

    threads = [threading.Thread(target=wait, args=(n,)) for n in range(WAITERS)]
    for thread in threads:
        thread.start()
    _until(lambda: len(listener()._waiters) == WAITERS)
    [subscriber] = _subscribers_of_this_process()
    assert (int(subscriber["psub"]), int(subscriber["sub"])) == (1, 0)

    for n in reversed(range(WAITERS)):
        finished[n].set()
        announced = time.monotonic()
        redis_client().publish(channels[n], b"1")
        _until(lambda n=n: returned_at[n] is not None, timeout=WOKEN_WITHIN)
        assert returned_at[n] - announced < WOKEN_WITHIN
        assert all(returned_at[m] is None for m in range(n))
    for thread in threads:
        thread.join(timeout=5)
    [subscriber] = _subscribers_of_this_process()
    assert (int(subscriber["psub"]), int(subscriber["sub"])) == (1, 0)
