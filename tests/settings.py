"""Settings for the test suite: the real PostgreSQL and Redis, on a Redis database of their own."""

import os
import uuid

# One id per test run, inherited by the worker and beat processes the run starts, keeps the queues and cache keys
# of test runs that share this machine's Redis apart (a developer's run and CI, or two developers).
RUN_ID = os.environ.setdefault("TICKETFLOW_TEST_RUN", uuid.uuid4().hex[:8])
# The names derived from the run id: queues and cache keys of the run's own.
DERIVED_FROM_RUN_ID = {
    "CACHE_KEY_PREFIX": "ticketflow-test-{}",
    **{
        f"CELERY_QUEUE_{queue.upper()}": f"test-{{}}-{queue}"
        for queue in ("commands", "timers", "maintenance", "webhooks")
    },
}
# `make test` runs the unit and integration tests on two pytest-xdist workers. Each inherits the controller's run id
# and the names derived from it, so each takes a run of its own (the processes it starts inherit that one). Joined
# without a separator: the id also goes into database names, which take only letters, digits and "_".
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
_OWN_RUN = bool(_XDIST_WORKER) and not RUN_ID.endswith(_XDIST_WORKER)
if _OWN_RUN:
    RUN_ID = os.environ["TICKETFLOW_TEST_RUN"] = f"{RUN_ID}{_XDIST_WORKER}"
for _name, _pattern in DERIVED_FROM_RUN_ID.items():
    if _OWN_RUN:
        os.environ[_name] = _pattern.format(RUN_ID)
    else:
        os.environ.setdefault(_name, _pattern.format(RUN_ID))
# A developer's .env (their DATABASE_URL, their FLOWER_BASIC_AUTH) must not steer the suite or the processes it
# starts: the tests read no env file unless TICKETFLOW_ENV_FILE names one (tests/unit/test_env.py does, per process).
os.environ.setdefault("TICKETFLOW_ENV_FILE", os.devnull)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
# Debug mode (the development key, plain HTTP), as `make run`; inherited by the processes the run starts. A stack
# that runs as in production says DJANGO_DEBUG=0 itself (tests/support/stack.py).
os.environ.setdefault("DJANGO_DEBUG", "1")
# Tests revoke a token (or deactivate a user) and expect the very next request to be refused: no token cache, here
# or in the processes the run starts. tests/integration/api/test_token_cache.py turns it on and checks its bound.
os.environ.setdefault("API_TOKEN_CACHE_SECONDS", "0")

from config.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Several suites may run side by side on one machine (a developer and CI): each can name its own test database.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_ticketflow")}  # noqa: F405
# Django empties the database between transactional tests with TRUNCATE, which append-only tables otherwise refuse.
_OPTIONS = DATABASES["default"]["OPTIONS"]  # noqa: F405
_OPTIONS["options"] = f"{_OPTIONS.get('options', '')} -c ticketflow.allow_truncate=on".strip()
# The live test server runs each request on a new thread; a connection kept for reuse would outlive its thread.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
