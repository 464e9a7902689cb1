"""Fault tests: real gunicorn, Celery worker and beat processes under a steady command load, while workers are
SIGKILLed, Redis is restarted or flushed, PostgreSQL is stopped, or beat is killed and doubled.

Every test runs on a private Redis and a database of its own in a private PostgreSQL cluster (conftest.py), and
ends with every command final, none `failed`, each ticket's commands applied exactly once, and the invariant
checkers clean. Their machinery (private servers, the stack, the load, the checks) is in tests/support. The long
variants (`@pytest.mark.fault`) run with `make test-fault`; the short ones in `make test`.
Figures go to var/test-logs/fault-<name>.json.
"""
