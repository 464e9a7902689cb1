from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts.models import ApiToken, Role, User


class Command(BaseCommand):
    help = "Create a user (or add roles to an existing one), issue a new API token and print it alone."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", action="append", default=[], choices=[r.value for r in Role])
        parser.add_argument("--service", action="store_true", help="an upstream system that may send actor_id")

    @transaction.atomic
    def handle(self, *args, username: str, role: list[str], service: bool, **options):
        if not username.strip():
            raise CommandError("username must not be empty")
        user, _ = User.objects.select_for_update().get_or_create(username=username)
        user.roles = sorted(set(user.roles) | set(role))
        user.is_service = user.is_service or service
        user.is_staff = user.is_staff or Role.ADMIN in user.roles
        user.save(update_fields=["roles", "is_service", "is_staff"])
        _, raw = ApiToken.issue(user)
        self.stdout.write(raw)
