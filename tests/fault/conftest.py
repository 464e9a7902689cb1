"""Fixtures of the fault tests. Every process, database and temp dir is torn down, even when the test fails.

Each test gets a database of its own in a private PostgreSQL cluster (one per session, migrated once, cloned per
test) and a private Redis: the tests stop, restart and flush these, and the machine's shared PostgreSQL and Redis
(other people's work, CI) never feel the load or the faults.
"""

import shutil
import uuid

import pytest

from tests.support.processes import migrate, process_env
from tests.support.servers import PrivatePostgres, PrivateRedis, postgres_bindir
from tests.support.stack import Stack

TEMPLATE = "ticketflow_template"


@pytest.fixture(scope="session")
def fault_postgres():
    """A private PostgreSQL cluster with a migrated template database (`manage.py migrate`, as a deploy runs it)."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed on this machine")
    cluster = PrivatePostgres("session", bindir)
    try:
        cluster.init().start()
        migrate(process_env(DATABASE_URL=cluster.create_database(TEMPLATE)))
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def fault_database(fault_postgres):
    """A fresh copy of the migrated template, dropped after the test (the cluster is restarted if a test left it
    stopped)."""
    name = f"fault_{uuid.uuid4().hex[:12]}"
    url = fault_postgres.create_database(name, template=TEMPLATE)
    try:
        yield url
    finally:
        if not fault_postgres.running:
            fault_postgres.start()
        fault_postgres.drop_database(name)


@pytest.fixture
def private_redis(request):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed on this machine")
    server = PrivateRedis(request.node.name[:40])
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def fault_stack(fault_postgres, fault_database, private_redis):
    """`make(name, **options)` builds a Stack on this test's database and Redis; every stack is killed after."""
    stacks: list[Stack] = []

    def make(name: str, **options) -> Stack:
        stack = Stack(name, redis=private_redis, postgres=fault_postgres, database_url=fault_database, **options)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()
