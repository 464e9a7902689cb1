"""`create_api_user --role admin` makes an admin who can sign in to the Django admin and work the review queue;
`--password-from-stdin` sets the password from one line of standard input. stdout stays the token alone."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.accounts.models import ApiToken, User
from tests.support.processes import process_env, run_python

pytestmark = pytest.mark.django_db

PASSWORD = "review-queue-pass-1"


def create_api_user(*args, stdin: str | None = None) -> str:
    out = StringIO()
    extra = {} if stdin is None else {"stdin": StringIO(stdin)}
    call_command("create_api_user", *args, stdout=out, stderr=StringIO(), **extra)
    return out.getvalue()


def sign_in(client, username: str, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_an_admin_signs_in_and_opens_the_review_queue(client, shop):
    ticket = shop.create()
    printed = create_api_user("alice", "--role", "admin", "--password-from-stdin", stdin=PASSWORD + "\n")

    assert ApiToken.authenticate(printed.rstrip("\n")) == User.objects.get(username="alice")
    assert printed.count("\n") == 1 and PASSWORD not in printed
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/", response.content[:500]

    queue = client.get(reverse("admin:ticket_ticketreviewqueue_changelist"))

    assert queue.status_code == 200
    assert ticket.title in queue.content.decode()
    assert "approve_review" in queue.content.decode()  # the bulk action is offered
    assert client.get(reverse("admin:commands_command_changelist")).status_code == 200


def test_an_admin_made_without_a_password_cannot_sign_in_until_one_is_set(client):
    create_api_user("bob", "--role", "admin")
    user = User.objects.get(username="bob")
    assert (user.is_staff, user.has_usable_password()) == (True, False)

    create_api_user("bob", "--password-from-stdin", stdin=PASSWORD + "\n")

    assert sign_in(client, "bob", PASSWORD).status_code == 302
    assert client.get(reverse("admin:ticket_ticketreviewqueue_changelist")).status_code == 200


def test_other_roles_get_no_admin_powers():
    create_api_user("tess", "--role", "technician", "--role", "master")

    user = User.objects.get(username="tess")
    assert (user.is_staff, user.is_superuser) == (False, False)


def test_only_the_first_line_of_stdin_is_the_password_kept_as_typed():
    create_api_user("carol", "--role", "admin", "--password-from-stdin", stdin="  spaced pass phrase 7 \nignored\n")

    assert User.objects.get(username="carol").check_password("  spaced pass phrase 7 ")


@pytest.mark.parametrize(("stdin", "message"), [("", "password"), ("\n", "password"), ("abc\n", "too short")])
def test_an_empty_or_weak_password_is_refused_and_nothing_is_created(stdin, message):
    with pytest.raises(CommandError, match=message):
        create_api_user("dave", "--role", "admin", "--password-from-stdin", stdin=stdin)

    assert not User.objects.filter(username="dave").exists()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_line_reads_the_password_from_stdin_and_prints_the_token_alone():
    result = run_python(
        "manage.py",
        "create_api_user",
        "erin",
        "--role",
        "admin",
        "--password-from-stdin",
        env=process_env(),
        input=PASSWORD + "\n",
        timeout=120,
    )

    token = result.stdout.rstrip("\n")
    assert result.stdout == token + "\n" and " " not in token
    user = User.objects.get(username="erin")
    assert ApiToken.authenticate(token) == user and user.check_password(PASSWORD)
