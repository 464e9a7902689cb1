import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts.models import ApiToken, Role, User


class Command(BaseCommand):
    help = (
        "Create a user (or add roles to an existing one), issue a new API token and print it alone. An admin may sign "
        "in to the Django admin once it has a password (--password-from-stdin)."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", action="append", default=[], choices=[r.value for r in Role])
        parser.add_argument("--service", action="store_true", help="an upstream system that may send actor_id")
        parser.add_argument(
            "--password-from-stdin",
            action="store_true",
            help="set the password (for the Django admin) to the first line read from standard input",
        )

    def handle(self, *args, username: str, role: list[str], service: bool, password_from_stdin: bool, **options):
        if not username.strip():
            raise CommandError("username must not be empty")
        password = read_password(options.get("stdin") or sys.stdin) if password_from_stdin else None
        with transaction.atomic():
            user, created = User.objects.select_for_update().get_or_create(username=username)
            user.grant_roles(role, service=service)
            fields = ["roles", "is_service", "is_staff", "is_superuser"]
            if created and password is None:
                user.set_unusable_password()  # the API takes tokens; a password is set only when asked for
                fields.append("password")
            if password is not None:
                try:
                    validate_password(password, user)
                except ValidationError as exc:
                    raise CommandError("password refused: " + " ".join(exc.messages)) from None
                user.set_password(password)
                fields.append("password")
            user.save(update_fields=fields)
            _, raw = ApiToken.issue(user)
        self.stdout.write(raw)


def read_password(stream) -> str:
    """One line, kept as typed but for its line ending (a pipe or a here-string ends it with one). At a terminal it
    is asked for without echo, the prompt on the terminal: stdout stays the token alone."""
    password = getpass.getpass("Password: ") if stream.isatty() else stream.readline().rstrip("\r\n")
    if not password:
        raise CommandError("--password-from-stdin: standard input gave no password")
    return password
