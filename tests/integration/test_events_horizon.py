"""The feed's gapless promise (apps/events/feed.py), against real concurrent transactions on their own connections:
a reader paging with `next_after` sees every committed event once, positions strictly increasing, even when
transactions commit in the opposite order of the positions they drew."""

import json
import random
import threading
import time

import psycopg
import pytest
from django.db import connection

from apps.events.feed import read_page, read_page_json

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = "INSERT INTO event (id, type, occurred_at, data) VALUES (gen_random_uuid(), 'rules.changed', now(), '{}') "


def open_writer() -> psycopg.Connection:
    return psycopg.connect(**connection.get_connection_params(), autocommit=False)


def draw(writer: psycopg.Connection) -> int:
    """Record one event in the writer's open transaction; its position."""
    return writer.execute(INSERT + "RETURNING position").fetchone()[0]


def positions_read_as_events(after: int, limit: int) -> list[int]:
    return [event.position for event in read_page(after=after, limit=limit)]


def positions_read_as_json(after: int, limit: int) -> list[int]:
    """The API's reader: horizon and rows in one round trip."""
    page = read_page_json(after=after, limit=limit)
    return [item["position"] for item in json.loads(f"[{page.items}]")]


class Reader:
    """Pages the feed with next_after, as a client would, remembering everything it was served."""

    def __init__(self, positions):
        self.positions = positions
        self.after, self.seen = 0, []

    def page(self, limit: int = 100) -> list[int]:
        served = self.positions(self.after, limit)
        if served:
            self.after = served[-1]
        self.seen += served
        return served


@pytest.fixture(params=[positions_read_as_events, positions_read_as_json], ids=["events", "json"])
def reader(request) -> Reader:
    return Reader(request.param)


@pytest.mark.parametrize("second_took_its_id_first", [False, True], ids=["ids-in-draw-order", "ids-inverted"])
def test_a_position_committed_late_is_not_skipped(reader, second_took_its_id_first):
    """T1 draws p, T2 draws p+1 and commits first. With the ids inverted T2 became a writing transaction before T1
    did (its first write came earlier, as a command's ticket UPDATE does), the case an xmin rule alone gets wrong."""
    with open_writer() as t1, open_writer() as t2:
        if second_took_its_id_first:
            t2.execute("SELECT pg_current_xact_id()")
        p = draw(t1)
        assert draw(t2) == p + 1
        t2.commit()

        assert reader.page() == []  # p+1 is committed, but p may still come: nothing past the horizon
        assert reader.after == 0

        t1.commit()
        assert reader.page() == [p, p + 1]
        assert reader.page() == []


def test_a_rolled_back_position_leaves_no_hole_to_wait_for(reader):
    with open_writer() as t1, open_writer() as t2:
        p = draw(t1)
        draw(t2)
        t2.commit()
        t1.rollback()
        assert reader.page() == [p + 1]


def test_many_writers_one_reader_sees_every_committed_event_once_in_order(reader):
    """Writers on their own connections record 1..3 events per transaction, hold them open a random while, and
    commit or roll back; one reader pages all along. At the end the reader was served exactly the committed set,
    positions strictly increasing."""
    writers, transactions_each = 8, 25
    committed: set[int] = set()
    lock = threading.Lock()
    failures: list[BaseException] = []

    def write(seed: int):
        chance = random.Random(seed)
        try:
            with open_writer() as writer:
                for _ in range(transactions_each):
                    if chance.random() < 0.3:
                        writer.execute("SELECT pg_current_xact_id()")  # an id taken before the draw
                    drawn = [draw(writer) for _ in range(chance.randint(1, 3))]
                    time.sleep(chance.random() * 0.01)
                    if chance.random() < 0.15:
                        writer.rollback()
                    else:
                        writer.commit()
                        with lock:
                            committed.update(drawn)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(writers)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        reader.page(limit=7)
    for thread in threads:
        thread.join()
    while reader.page(limit=50):
        pass

    assert not failures
    assert len(committed) > writers * transactions_each  # several events per transaction on average
    assert reader.seen == sorted(set(reader.seen)), "served twice or out of order"
    assert set(reader.seen) == committed, f"missed {sorted(committed - set(reader.seen))[:10]}"


def test_a_claim_rolled_back_with_a_savepoint_is_taken_again(reader):
    """A refused command's savepoint rolls back its events and the claim made for them (a claim and its
    once-per-transaction marker go together); the `command.rejected` recorded after it must claim anew."""
    with open_writer() as t1, open_writer() as t2:
        t1.execute("SAVEPOINT handler")
        draw(t1)
        t1.execute("ROLLBACK TO SAVEPOINT handler")
        p = draw(t1)
        draw(t2)
        t2.commit()
        assert reader.page() == []
        t1.commit()
        assert reader.page() == [p, p + 1]
