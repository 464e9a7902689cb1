"""/api/v1/webhooks: admin-only CRUD, secrets shown once, rotation, validation (API.md "Webhooks")."""

import base64

import pytest
from django.test import override_settings

from apps.webhooks.models import Webhook

pytestmark = pytest.mark.django_db

HOOKS = "/api/v1/webhooks"
PUBLIC_URL = "https://93.184.215.14/hooks"  # a public address literal: no DNS needed to check it


def create(api, admin, **body):
    return api.post(HOOKS, {"url": PUBLIC_URL, **body}, admin)


def test_create_answers_the_secret_once_and_never_again(api, admin):
    created = create(api, admin, event_types=["ticket.*", "xp.awarded"], description="shop bot")

    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"id", "url", "event_types", "description", "active", "created_at", "secret"}
    assert (body["url"], body["event_types"], body["description"], body["active"]) == (
        PUBLIC_URL,
        ["ticket.*", "xp.awarded"],
        "shop bot",
        True,
    )
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) == 32
    shown = api.get(f"{HOOKS}/{body['id']}", admin).json()
    listed = api.get(HOOKS, admin).json()["items"]
    assert "secret" not in shown and all("secret" not in item for item in listed)
    assert [item["id"] for item in listed] == [body["id"]]


def test_event_types_default_to_every_type(api, admin):
    assert create(api, admin).json()["event_types"] == ["*"]


def test_patch_changes_what_it_names_and_delete_deactivates_keeping_the_webhook(api, admin):
    hook = create(api, admin).json()

    patched = api.send("PATCH", f"{HOOKS}/{hook['id']}", {"event_types": ["work_session.*"], "active": False}, admin)
    assert patched.status_code == 200, patched.content
    assert (patched.json()["event_types"], patched.json()["active"], patched.json()["url"]) == (
        ["work_session.*"],
        False,
        PUBLIC_URL,
    )
    api.send("PATCH", f"{HOOKS}/{hook['id']}", {"active": True}, admin)
    deleted = api.send("DELETE", f"{HOOKS}/{hook['id']}", b"", admin)
    assert deleted.status_code == 204
    assert api.get(f"{HOOKS}/{hook['id']}", admin).json()["active"] is False
    assert Webhook.objects.filter(pk=hook["id"]).exists()


def test_rotation_answers_a_new_secret_and_keeps_the_old_one_for_the_overlap(api, admin):
    hook = create(api, admin).json()

    rotated = api.post(f"{HOOKS}/{hook['id']}/rotate-secret", b"", admin)

    assert rotated.status_code == 200, rotated.content
    assert set(rotated.json()) == {"secret"}
    row = Webhook.objects.get(pk=hook["id"])
    assert (row.secret, row.previous_secret) == (rotated.json()["secret"], hook["secret"])
    assert row.secret != hook["secret"] and row.secret_rotated_at is not None


@pytest.mark.parametrize("role", ["master", "technician", "inspector", "service", "nobody"])
def test_everyone_but_admins_is_refused(api, admin, role, request):
    user = request.getfixturevalue(role)
    hook = create(api, admin).json()
    path = f"{HOOKS}/{hook['id']}"

    answers = [
        api.post(HOOKS, {"url": PUBLIC_URL}, user),
        api.get(HOOKS, user),
        api.get(path, user),
        api.send("PATCH", path, {"description": "mine"}, user),
        api.send("DELETE", path, b"", user),
        api.post(f"{path}/rotate-secret", b"", user),
        api.get(f"{path}/deliveries", user),
        api.post(f"{path}/redeliver", {"after_position": 0}, user),
    ]

    assert [answer.status_code for answer in answers] == [403] * len(answers)
    assert Webhook.objects.get(pk=hook["id"]).description == ""


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "ftp://93.184.215.14/x"}, ["body", "url"]),
        ({"url": "not a url"}, ["body", "url"]),
        ({"url": "http://user:pw@93.184.215.14/"}, ["body", "url"]),
        ({"url": PUBLIC_URL, "event_types": ["ticket.exploded"]}, ["body", "event_types", 0]),
        ({"url": PUBLIC_URL, "event_types": ["ticket.*", "nothing.*"]}, ["body", "event_types", 1]),
        ({"url": PUBLIC_URL, "event_types": []}, ["body", "event_types"]),
        ({"url": PUBLIC_URL, "secret": "whsec_mine"}, ["body", "secret"]),
    ],
)
def test_bad_urls_and_event_types_are_422_naming_the_field(api, admin, body, loc):
    answer = api.post(HOOKS, body, admin)

    assert answer.status_code == 422, answer.content
    assert answer.json()["code"] == "validation_error"
    assert loc in [error["loc"] for error in answer.json()["errors"]]
    assert not Webhook.objects.exists()


def test_patch_refuses_an_internal_url_and_null_fields(api, admin):
    hook = create(api, admin).json()
    path = f"{HOOKS}/{hook['id']}"

    internal = api.send("PATCH", path, {"url": "http://127.0.0.1:8080/"}, admin)
    null = api.send("PATCH", path, {"url": None}, admin)

    assert internal.status_code == 422 and internal.json()["errors"][0]["loc"] == ["body", "url"]
    assert "loopback" in internal.json()["errors"][0]["msg"]
    assert null.status_code == 422
    assert Webhook.objects.get(pk=hook["id"]).url == PUBLIC_URL


@override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True)
def test_private_targets_are_allowed_when_the_development_switch_is_on(api, admin):
    assert api.post(HOOKS, {"url": "http://127.0.0.1:9/"}, admin).status_code == 201


def test_unknown_webhooks_are_404(api, admin):
    assert api.get(f"{HOOKS}/999999", admin).status_code == 404
    assert api.send("DELETE", f"{HOOKS}/999999", b"", admin).status_code == 404
    assert api.post(f"{HOOKS}/999999/rotate-secret", b"", admin).status_code == 404
    assert api.get(f"{HOOKS}/999999/deliveries", admin).status_code == 404


def test_redeliver_takes_after_position_or_event_id_not_both(api, admin):
    hook = create(api, admin).json()
    path = f"{HOOKS}/{hook['id']}/redeliver"

    both = api.post(path, {"after_position": 0, "event_id": "3f1c2a52-8d0e-4d5c-9a51-6a3c7f0d9e11"}, admin)
    neither = api.post(path, {}, admin)
    unknown = api.post(path, {"event_id": "3f1c2a52-8d0e-4d5c-9a51-6a3c7f0d9e11"}, admin)
    nothing_yet = api.post(path, {"after_position": 0}, admin)

    assert (both.status_code, neither.status_code, unknown.status_code) == (422, 422, 404)
    assert (nothing_yet.status_code, nothing_yet.json()) == (202, {"queued": 0})
