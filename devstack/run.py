"""`make run`: services (devstack/services.py), then preflight, migrations, periodic tasks and demo data, then the
banner, then the Procfile under honcho in the foreground until Ctrl-C or SIGTERM, then the embedded services stop.

Every step runs with one environment: the process's own, the .env file under it (config/env.py), and the URLs of
the embedded services. honcho gets that environment and reads no .env of its own, so the web, worker, beat and
Flower processes see exactly what the steps before them saw.
"""

import io
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from django.core.management.base import CommandError

from config.env import BASE_DIR
from devstack.services import Services, var_dir

PROCFILE = BASE_DIR / "Procfile"
HONCHO = Path(sys.executable).parent / "honcho"
FLOWER_USER = "admin"


def say(line: str) -> None:
    print(line, flush=True)


def run(port: int) -> int:
    # SIGTERM (and Ctrl-C) during the steps unwinds through `with Services`, which stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    folder = var_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["FLOWER_BASIC_AUTH"] = flower_credentials(folder)
    try:
        with Services(say, folder) as urls:
            os.environ.update(urls)
            try:
                demo_data = prepare(port)
            except CommandError as exc:
                print(f"\n{exc}", file=sys.stderr, flush=True)
                return 1
            banner = demo_data + banner_lines(port, folder, embedded=sorted(urls))
            (folder / "run-banner.txt").write_text(banner)
            say(banner)
            return run_procfile(port)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT


def prepare(port: int) -> str:
    """preflight, migrate, periodic tasks and demo data; returns seed_demo's report (users, tokens, examples)."""
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    call_command("preflight")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("setup_periodic_tasks")
    report = io.StringIO()
    call_command("seed_demo", base_url=f"http://127.0.0.1:{port}", stdout=report)
    connections.close_all()  # the children open their own; none of this process's may linger on the server
    return report.getvalue()


def flower_credentials(folder: Path) -> str:
    """FLOWER_BASIC_AUTH from the environment or .env; unset, one generated on the first run and kept in var/
    (a bookmarked Flower keeps working). Flower reads it from its environment, never from its command line,
    where `ps` would show the password to every user of the machine."""
    configured = os.environ.get("FLOWER_BASIC_AUTH")
    if configured:
        return configured
    kept = folder / "flower-basic-auth"
    if not kept.exists():
        kept.touch(mode=0o600)
        kept.write_text(f"{FLOWER_USER}:{secrets.token_urlsafe(12)}")
    return kept.read_text().strip()


def banner_lines(port: int, folder: Path, *, embedded: list[str]) -> str:
    from apps.demo.management.commands.seed_demo import ADMIN_USERNAME, demo_admin_password

    base = f"http://127.0.0.1:{port}"
    flower_user, _, flower_password = os.environ["FLOWER_BASIC_AUTH"].partition(":")
    flower_port = os.environ.get("FLOWER_PORT", "5555")
    services = {"DATABASE_URL": ("PostgreSQL", "postgres"), "REDIS_URL": ("Redis", "redis")}
    where = [
        f"{label} embedded (data in {folder / 'embedded' / data})" if name in embedded else f"{label} from {name}"
        for name, (label, data) in services.items()
    ]
    return "\n".join(
        [
            "",
            f"  API docs   {base}/api/v1/docs",
            f"  Admin      {base}/admin/   user {ADMIN_USERNAME}  password {demo_admin_password()}",
            f"  Flower     http://127.0.0.1:{flower_port}/   user {flower_user}  password {flower_password}",
            f"  Health     {base}/readyz   Metrics {base}/metrics",
            f"  Services   {', '.join(where)}",
            "  Try it     make demo   (in another terminal)",
            f"  This banner, tokens included, is kept in {folder / 'run-banner.txt'}",
            "",
        ]
    )


def run_procfile(port: int) -> int:
    """honcho in this process group, as a terminal's Ctrl-C expects; a signal sent to this process alone is
    passed on, and honcho stops every Procfile process (SIGTERM, then SIGKILL after 5 s)."""
    env = {**os.environ, "PATH": f"{HONCHO.parent}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1"}
    argv = [str(HONCHO), "start", "-f", str(PROCFILE), "-d", str(BASE_DIR), "-e", os.devnull, "-p", str(port)]
    honcho = subprocess.Popen(argv, env=env, cwd=BASE_DIR)

    def pass_on(signum, _frame):
        honcho.send_signal(signum)

    signal.signal(signal.SIGINT, pass_on)
    signal.signal(signal.SIGTERM, pass_on)
    try:
        return honcho.wait()
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
