import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql

# What to do when a service does not answer at all; shared with preflight's Redis check.
START_HINT = (
    "Start it, or let `make run` start an embedded one (leave DATABASE_URL and REDIS_URL unset, or set"
    " TICKETFLOW_SERVICES=embedded), or start both in Docker: `docker compose -f compose.services.yml up -d`."
)


class Command(BaseCommand):
    help = (
        "Create the configured PostgreSQL database if it does not exist; say clearly whether PostgreSQL is down or"
        " refused the login."
    )

    requires_system_checks = []

    def handle(self, *args, **options):
        db = settings.DATABASES["default"]
        params = {
            "host": db.get("HOST") or "127.0.0.1",
            "port": db.get("PORT") or 5432,
            "user": db.get("USER") or "postgres",
            "password": db.get("PASSWORD") or None,
            "dbname": "postgres",
            "connect_timeout": 5,
        }
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                    self.stdout.write(f"created database {db['NAME']}")
        except psycopg.OperationalError as exc:
            raise CommandError(explain(exc, f"{params['host']}:{params['port']}", params["user"])) from None


def explain(exc: psycopg.OperationalError, where: str, user: str) -> str:
    """A server that answered and refused (bad password, unknown role, pg_hba) is named with its own words: telling
    the user to start a server that runs would send them the wrong way. Anything else never reached a server."""
    message = str(exc)
    if "FATAL:" in message:
        reason = " ".join(message[message.index("FATAL:") :].split())
        return f"PostgreSQL at {where} refused the login of {user!r}: {reason}\nCheck the credentials in DATABASE_URL."
    reason = message.split(" failed: ")[-1].split("\n")[0].strip() or exc.__class__.__name__
    return f"PostgreSQL is not reachable at {where} ({reason}).\n{START_HINT} Then check DATABASE_URL."
