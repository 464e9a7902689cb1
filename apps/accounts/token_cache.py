"""Who holds a bearer token, remembered for API_TOKEN_CACHE_SECONDS in each web process (issue 17).

Every authenticated request used to cost a SELECT of the token and its user. A client sends the same token again
and again, so each process keeps the answer for a few seconds. The price is a bound on revocation: a token revoked
or deleted, a user deactivated or given other roles, is honoured by every process within API_TOKEN_CACHE_SECONDS
(default 5; 0 turns the cache off and every request reads the database, as the test suite does). Only tokens that
were accepted are kept: an unknown one is looked up every time, so a token issued a moment ago works at once and
a stream of made-up tokens cannot fill the memory.

An entry holds the user's field values, not a User: each request gets an instance of its own, so nothing one
request does to `request.user` reaches another.
"""

import threading
import time

from django.conf import settings

from apps.accounts.models import ApiToken, User, hash_token

MAX_ENTRIES = 10_000  # far more tokens than a process sees in use at once; past it, start over
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
_entries: dict[str, tuple[float, tuple]] = {}  # token hash -> (monotonic expiry, the user's field values)
_lock = threading.Lock()


def authenticated_user(raw: str) -> User | None:
    """The active user `raw` is a live token of, or None; at most API_TOKEN_CACHE_SECONDS out of date."""
    seconds = settings.API_TOKEN_CACHE_SECONDS
    if seconds <= 0:
        return ApiToken.authenticate(raw)
    digest = hash_token(raw) if raw and len(raw) <= 200 else None
    entry = _entries.get(digest) if digest else None
    now = time.monotonic()
    if entry is not None and entry[0] > now:
        return _user(entry[1])
    user = ApiToken.authenticate(raw)
    with _lock:
        if user is None:
            _entries.pop(digest, None)
        else:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[digest] = (now + seconds, _copied(getattr(user, name) for name in _USER_FIELDS))
    return user


def forget_tokens() -> None:
    """Drop every remembered token of this process (tests)."""
    with _lock:
        _entries.clear()


def _user(values: tuple) -> User:
    return User.from_db("default", _USER_FIELDS, _copied(values))


def _copied(values) -> tuple:
    # Lists (the roles) are copied in and out: what a request does to its user must not reach the cache.
    return tuple(list(value) if isinstance(value, list) else value for value in values)
