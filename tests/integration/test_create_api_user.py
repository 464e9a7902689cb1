"""`manage.py create_api_user`: prints the token alone, stores only its hash; tokens authenticate until revoked."""

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db


def create_api_user(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_user", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def stored_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
        return repr(cursor.fetchall())


def test_it_prints_only_the_token_and_stores_only_its_hash():
    printed, errors = create_api_user("shopfront", "--role", "master", "--role", "admin", "--service")

    raw = printed.rstrip("\n")
    assert printed == raw + "\n" and "\n" not in raw and " " not in raw
    assert errors == ""
    user = User.objects.get(username="shopfront")
    assert (sorted(user.roles), user.is_service, user.is_staff) == (["admin", "master"], True, True)
    (token,) = ApiToken.objects.filter(user=user)
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in stored_text()
    assert ApiToken.authenticate(raw) == user


def test_running_it_again_adds_roles_and_issues_another_valid_token():
    first, _ = create_api_user("alice", "--role", "technician")
    second, _ = create_api_user("alice", "--role", "qc_inspector")

    user = User.objects.get(username="alice")
    assert sorted(user.roles) == ["qc_inspector", "technician"]
    assert (user.is_service, user.is_staff) == (False, False)
    assert first != second
    assert ApiToken.objects.filter(user=user).count() == 2
    assert ApiToken.authenticate(first.strip()) == ApiToken.authenticate(second.strip()) == user


def test_a_revoked_token_is_refused_and_the_others_still_work():
    revoked_raw = create_api_user("bob", "--role", "technician")[0].strip()
    kept_raw = create_api_user("bob")[0].strip()
    ApiToken.objects.filter(token_hash=hashlib.sha256(revoked_raw.encode()).hexdigest()).update(
        revoked_at=timezone.now()
    )

    assert ApiToken.authenticate(revoked_raw) is None
    assert ApiToken.authenticate(kept_raw) == User.objects.get(username="bob")


def test_wrong_tokens_and_tokens_of_inactive_users_are_refused():
    raw = create_api_user("carol", "--role", "admin")[0].strip()
    for wrong in ("", "tf_", raw + "x", raw[:-1], raw.upper(), " " + raw, "x" * 201):
        assert ApiToken.authenticate(wrong) is None, wrong

    User.objects.filter(username="carol").update(is_active=False)
    assert ApiToken.authenticate(raw) is None


def test_an_unknown_role_is_refused_and_creates_nothing():
    with pytest.raises(CommandError):
        create_api_user("mallory", "--role", "owner")
    assert not User.objects.filter(username="mallory").exists()
    assert not ApiToken.objects.exists()
