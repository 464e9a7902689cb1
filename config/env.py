"""Typed access to the environment; every setting of ticketflow comes through here.

Importing this module (the `config` package does, first thing) loads the `.env` file once, so every entry point
(manage.py, gunicorn, the Celery worker, beat and Flower, `make run`, `make demo`) sees the same settings. A variable
already in the environment wins over the file. TICKETFLOW_ENV_FILE names another file (/dev/null: none).
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE_VARIABLE = "TICKETFLOW_ENV_FILE"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def env_file_path() -> Path:
    named = os.environ.get(ENV_FILE_VARIABLE)
    return Path(named) if named else BASE_DIR / ".env"


def load_env_file(path: Path | None = None) -> Path | None:
    """Copy the file's variables into os.environ, leaving those already set alone; returns the file read, if any.
    A file named by TICKETFLOW_ENV_FILE must exist: a typo there would otherwise run on the defaults."""
    path = path or env_file_path()
    if not path.exists():
        if os.environ.get(ENV_FILE_VARIABLE):
            raise ImproperlyConfigured(f"{ENV_FILE_VARIABLE}={str(path)!r}: no such file")
        return None
    for name, value in dotenv_values(path).items():
        if value is not None:
            os.environ.setdefault(name, value)
    return path


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Unset or empty: `default`. A word that is neither on nor off is refused: a typo in a security switch
    (SECURE_SSL_REDIRECT=ture) must not quietly mean off."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    word = raw.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ImproperlyConfigured(f"{name}={raw!r}: write 1/true/yes/on or 0/false/no/off")
    return word in TRUE_WORDS


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: write a whole number") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_database(name: str, default: str, **options) -> dict:
    """The Django DATABASES entry for the URL in `name` (dj-database-url), refused by name when malformed.
    A Unix-socket server is written with its directory as the host, percent-encoded:
    postgres://postgres@%2Fpath%2Fto%2Fsocket-dir/ticketflow."""
    url = env_str(name, default)
    try:
        return dj_database_url.parse(url, **options)
    except ValueError as exc:  # dj-database-url's ParseError and UnknownSchemeError are ValueErrors
        raise ImproperlyConfigured(f"{name}={url!r}: not a database URL ({exc})") from None


def env_redis_url(name: str, default: str) -> str:
    """A Redis URL (redis://, rediss:// or unix://), refused by name when malformed."""
    url = env_str(name, default)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={url!r}: not a Redis URL ({exc})") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise ImproperlyConfigured(f"{name}={url!r}: not a Redis URL (write redis://host:port/db)")
    return url


load_env_file()
