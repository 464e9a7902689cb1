"""Fixtures of the integration tests: people and items as saved rows, the `shop` that drives tickets through the
services, and the in-process `api` client.

Tests with the `db` fixture run in one transaction that is rolled back, so on_commit callbacks never fire and
nothing reaches a broker: the HTTP contract tests (api/) check what the API accepts and answers, not what a worker
does.
"""

import pytest
import redis

from tests.support.api import ApiClient
from tests.support.builders import Shop
from tests.support.factories import (
    AdminFactory,
    InspectorFactory,
    InventoryItemFactory,
    InventoryItemPartFactory,
    MasterFactory,
    TechnicianFactory,
    UserFactory,
)


def saved(factory, doc: str = "", **fields):
    """A fixture returning one new row made by `factory` with `fields`."""

    def fixture(db):
        return factory(**fields)

    fixture.__doc__ = doc
    return pytest.fixture(fixture)


admin = saved(AdminFactory)
master = saved(MasterFactory)
technician = saved(TechnicianFactory)
other_technician = saved(TechnicianFactory)
inspector = saved(InspectorFactory)
nobody = saved(UserFactory, "An authenticated user without any role.", username="nobody")
service = saved(
    UserFactory,
    "An upstream system: no roles of its own, may act on behalf of others (actor_id).",
    username="upstream",
    is_service=True,
)
item = saved(InventoryItemFactory)
other_item = saved(InventoryItemFactory)


@pytest.fixture
def parts(item):
    return [InventoryItemPartFactory(inventory_item=item, name=name) for name in ("brakes", "chain")]


@pytest.fixture
def other_item_part(other_item):
    return InventoryItemPartFactory(inventory_item=other_item, name="saddle")


@pytest.fixture
def shop(admin, master, technician, inspector, item, parts):
    return Shop(admin=admin, master=master, technician=technician, inspector=inspector, item=item, parts=parts)


@pytest.fixture
def api(client, db):
    return ApiClient(client)


@pytest.fixture
def redis_client_builds(monkeypatch) -> list:
    """Every redis-py client built while the test runs (apps/common/cache.py and broker.py keep theirs)."""
    built = []
    original = redis.Redis.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)
    return built


@pytest.fixture
def batched_writes(monkeypatch) -> list[list[str]]:
    """The command names of every pipeline apps/common/redis_batch.py executes, and of every PUBLISH it makes at
    once, in order (each a round trip to Redis)."""
    from apps.common import redis_batch

    sent: list[list[str]] = []
    real_client = redis_batch.redis_client

    class CountingPipeline:
        def __init__(self, pipe):
            self._pipe = pipe

        def __getattr__(self, name):
            return getattr(self._pipe, name)

        def execute(self):
            sent.append([args[0] for args, _ in self._pipe.command_stack])
            return self._pipe.execute()

    class CountingClient:
        def pipeline(self, **kwargs):
            return CountingPipeline(real_client().pipeline(**kwargs))

        def publish(self, *args):
            sent.append(["PUBLISH"])
            return real_client().publish(*args)

    monkeypatch.setattr(redis_batch, "redis_client", CountingClient)
    return sent
