"""Where `make run` gets PostgreSQL and Redis: the configured ones, or embedded ones (devstack/embedded.py).

TICKETFLOW_SERVICES=auto (the default) embeds a service only when its URL is unset (in the environment and in .env)
and nothing answers on its default address; `embedded` embeds both whatever is configured; `external` never embeds
(preflight then says what is missing and how to start it).

While embedded services run, var/embedded/services.env holds their URLs, so that `make demo` in another terminal
reaches the same database; it is removed when they stop.
"""

import os
import signal
import socket
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

from config.env import BASE_DIR, env_str
from devstack import embedded

MODES = ("auto", "embedded", "external")
DEFAULT_ADDRESSES = {"DATABASE_URL": ("127.0.0.1", 5432), "REDIS_URL": ("127.0.0.1", 6379)}
SERVERS = {"DATABASE_URL": (embedded.EmbeddedPostgres, "postgres"), "REDIS_URL": (embedded.EmbeddedRedis, "redis")}


def var_dir() -> Path:
    """Runtime files of the development stack (TICKETFLOW_VAR_DIR, default var/ in the checkout)."""
    return Path(env_str("TICKETFLOW_VAR_DIR") or BASE_DIR / "var").resolve()


def services_mode() -> str:
    mode = env_str("TICKETFLOW_SERVICES", "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ImproperlyConfigured(f"TICKETFLOW_SERVICES={mode!r}: write auto, embedded or external")
    return mode


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def variables_to_embed(mode: str) -> list[str]:
    if mode == "external":
        return []
    if mode == "embedded":
        return list(SERVERS)
    return [name for name, address in DEFAULT_ADDRESSES.items() if not os.environ.get(name) and not answers(*address)]


class Services:
    """`with Services(say) as urls:` the embedded servers run for the block; `urls` maps DATABASE_URL/REDIS_URL to
    them (empty when everything is external). Stopped on the way out, whatever ends the block."""

    def __init__(self, say, folder: Path | None = None):
        self.say = say
        self.folder = (folder or var_dir()) / "embedded"
        self.state_file = self.folder / "services.env"
        self.running: list = []

    def __enter__(self) -> dict[str, str]:
        names = variables_to_embed(services_mode())
        if not names:
            return {}
        embedded.ensure_installed(self.say)
        urls = {}
        try:
            for name in names:
                server_class, subfolder = SERVERS[name]
                server = server_class(self.folder / subfolder)
                self.running.append(server)  # before start(): a start cut short by Ctrl-C is stopped too
                urls[name] = server.start()
                self.say(f"Embedded {server.label} running, data in {server.folder} (stopped with the rest on Ctrl-C)")
        except BaseException:
            self.__exit__()
            raise
        self.state_file.write_text("".join(f"{name}={url}\n" for name, url in urls.items()))
        return urls

    def __exit__(self, *exc_info) -> None:
        # A second Ctrl-C must not cut the stopping short and leave a server running on its own.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.state_file.unlink(missing_ok=True)
            while self.running:
                server = self.running.pop()
                server.stop()
                self.say(f"Embedded {server.label} stopped, data kept in {server.folder}")
        finally:
            signal.signal(signal.SIGINT, previous)


def use_running_services(folder: Path | None = None) -> None:
    """Point this process at the embedded services a `make run` elsewhere is running, if it is (for `make demo`)."""
    state_file = (folder or var_dir()) / "embedded" / "services.env"
    if state_file.exists():
        os.environ.update({name: url for name, url in dotenv_values(state_file).items() if url})
