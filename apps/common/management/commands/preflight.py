import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.common.management.commands.ensure_database import START_HINT


class Command(BaseCommand):
    help = (
        "Check that PostgreSQL and Redis answer (creating the database if missing); say which is down or refuses us,"
        " and how to fix it."
    )

    requires_system_checks = []

    def handle(self, *args, **options):
        call_command("ensure_database", stdout=self.stdout, stderr=self.stderr)
        where = settings.REDIS_URL.split("@")[-1]
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except (redis.AuthenticationError, redis.ResponseError) as exc:  # it answered, and said no
            raise CommandError(f"Redis at {where} refused us: {exc}\nCheck the password in REDIS_URL.") from None
        except redis.RedisError as exc:
            raise CommandError(
                f"Redis is not reachable at {where} ({exc.__class__.__name__}).\n{START_HINT} Then check REDIS_URL."
            ) from None
        self.stdout.write("PostgreSQL and Redis are reachable.")
