"""Settings for the test suite: the real PostgreSQL and Redis, on a Redis database of their own."""

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CACHE_KEY_PREFIX", "ticketflow-test")
os.environ.setdefault("CELERY_QUEUE_COMMANDS", "test-commands")
os.environ.setdefault("CELERY_QUEUE_TIMERS", "test-timers")
os.environ.setdefault("CELERY_QUEUE_MAINTENANCE", "test-maintenance")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
