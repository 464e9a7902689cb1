import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Check that PostgreSQL and Redis answer (creating the database if missing); say which is down and how to fix."
    )

    requires_system_checks = []

    def handle(self, *args, **options):
        call_command("ensure_database", stdout=self.stdout, stderr=self.stderr)
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            raise CommandError(
                f"Redis is not reachable at {settings.REDIS_URL.split('@')[-1]} ({exc.__class__.__name__}).\n"
                "Start it (for example: redis-server --daemonize yes --port 6379)"
                " or run `docker compose up -d postgres redis`, and check REDIS_URL."
            ) from None
        self.stdout.write("PostgreSQL and Redis are reachable.")
