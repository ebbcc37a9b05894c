"""API keys: issued once in clear, stored as a hash, managed by owners and admins only."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, Role
from tests.factories import MembershipFactory

LIST = reverse("accounts:api_keys")
API = "/api/v1/documents"


def revoke_url(key: ApiKey) -> str:
    return reverse("accounts:revoke_api_key", args=[key.pk])


def api_status(raw: str) -> int:
    return Client().get(API, headers={"Authorization": f"Bearer {raw}"}).status_code


@pytest.fixture
def issued(owner) -> tuple[ApiKey, str]:
    return ApiKey.issue(owner.org, owner.user, "Accounting export")


@pytest.fixture
def admin_client(org) -> Client:
    membership = MembershipFactory(organization=org, role=Role.ADMIN)
    client = Client()
    client.force_login(membership.user)
    return client


# --- The model ---------------------------------------------------------------------------


def test_issue_returns_the_plain_key_and_stores_only_its_hash(owner, issued):
    key, raw = issued
    assert re.fullmatch(r"pyq_[A-Za-z0-9_-]{43}", raw)
    assert key.prefix == raw[4:12]
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert (key.organization, key.created_by, key.name) == (
        owner.org,
        owner.user,
        "Accounting export",
    )
    assert (key.last_used_at, key.revoked_at) == (None, None)
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    secret_part = raw[4:]
    assert all(secret_part not in str(value) for value in row.values())
    assert key.display == f"pyq_{raw[4:12]}…"


def test_each_issued_key_is_different(owner):
    raws = {ApiKey.issue(owner.org, owner.user, f"k{i}")[1] for i in range(5)}
    assert len(raws) == 5


def test_authenticate_finds_the_key_and_only_the_exact_key(issued):
    key, raw = issued
    assert ApiKey.authenticate(raw) == key
    changed = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    for wrong in [changed, raw[:-1], raw + "x", raw[4:], "pyq_", "", None, "pyq_" + "x" * 200]:
        assert ApiKey.authenticate(wrong) is None, wrong


def test_authenticate_tells_apart_keys_that_share_a_prefix(owner, issued):
    key, raw = issued
    twin, twin_raw = ApiKey.issue(owner.org, owner.user, "Twin")
    ApiKey.objects.filter(pk=twin.pk).update(prefix=key.prefix)  # a prefix collision
    assert ApiKey.authenticate(raw) == key
    assert ApiKey.authenticate(twin_raw) is None  # its prefix no longer matches its row


def test_authenticate_records_use_at_most_once_a_minute(issued):
    key, raw = issued
    before = timezone.now()
    ApiKey.authenticate(raw)
    key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use >= before

    ApiKey.authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at == first_use

    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=two_minutes_ago)
    ApiKey.authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at > two_minutes_ago + timedelta(minutes=1)


def test_revoked_key_no_longer_authenticates_and_revoking_again_changes_nothing(issued):
    key, raw = issued
    assert key.revoke() is True
    revoked_at = ApiKey.objects.get(pk=key.pk).revoked_at
    assert revoked_at is not None
    assert ApiKey.authenticate(raw) is None
    assert key.revoke() is False
    assert ApiKey.objects.get(pk=key.pk).revoked_at == revoked_at


# --- The settings page ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_owner_or_admin_creates_a_key_and_sees_it_exactly_once(request, owner, who):
    client = owner.client if who == "owner" else request.getfixturevalue("admin_client")
    response = client.post(LIST, {"name": "  Zapier  "})
    assert response.status_code == 200
    raw = response.context["new_key"]
    body = response.content.decode()
    assert raw in body
    assert "won't be shown again" in body
    assert 'data-copy="#new-key"' in body
    assert "js/copy.js" in body
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    assert (key.organization, key.name) == (owner.org, "Zapier")
    assert key.created_by == response.wsgi_request.user
    assert ApiKey.authenticate(raw) == key

    again = client.get(LIST).content.decode()
    assert raw not in again
    assert raw[4:] not in again
    assert "Zapier" in again
    assert key.display in again
    assert "won't be shown again" not in again


def test_blank_name_is_refused_next_to_the_field_and_creates_nothing(owner):
    response = owner.client.post(LIST, {"name": "   "})
    assert response.status_code == 400
    assert response.context["new_key"] is None
    assert response.context["form"].errors["name"] == ["This field is required."]
    assert 'aria-invalid="true"' in response.content.decode()
    assert ApiKey.objects.count() == 0


def test_list_shows_the_organizations_keys_with_their_state(owner, outsider, issued):
    key, _ = issued
    used, _ = ApiKey.issue(owner.org, owner.user, "Used key")
    ApiKey.objects.filter(pk=used.pk).update(last_used_at=timezone.now())
    gone, _ = ApiKey.issue(owner.org, None, "Old key")
    gone.revoke()
    ApiKey.issue(outsider.org, outsider.user, "Their key")

    response = owner.client.get(LIST)

    assert response.status_code == 200
    assert [k.name for k in response.context["keys"]] == [
        "Old key",
        "Used key",
        "Accounting export",
    ]
    body = response.content.decode()
    assert "Their key" not in body
    assert key.display in body
    assert owner.user.email in body
    assert body.count("Revoked</span>") == 1
    assert body.count("Active</span>") == 2
    assert body.count(">Never<") == 2
    assert body.count('action="/org/settings/api-keys/') == 2  # no revoke button on a revoked key


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_member_and_viewer_see_the_list_read_only(request, issued, who):
    persona = request.getfixturevalue(who)
    response = persona.client.get(LIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Accounting export" in body
    assert response.context["can_manage"] is False
    assert 'name="name"' not in body
    assert revoke_url(issued[0]) not in body
    assert "Only owners and admins can create or revoke API keys." in body


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_member_and_viewer_cannot_create_a_key(request, issued, who):
    persona = request.getfixturevalue(who)
    response = persona.client.post(LIST, {"name": "Sneaky"})
    assert response.status_code == 403
    assert list(ApiKey.objects.values_list("name", flat=True)) == ["Accounting export"]


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_member_and_viewer_cannot_revoke_a_key(request, issued, who):
    key, raw = issued
    persona = request.getfixturevalue(who)
    response = persona.client.post(revoke_url(key))
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    assert api_status(raw) == 200


def test_owner_revokes_a_key_and_the_api_refuses_it(owner, issued):
    key, raw = issued
    assert api_status(raw) == 200
    response = owner.client.post(revoke_url(key), follow=True)
    assert response.redirect_chain == [(LIST, 302)]
    assert "Revoked Accounting export." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_status(raw) == 401


def test_admin_revokes_a_key(admin_client, issued):
    key, _ = issued
    assert admin_client.post(revoke_url(key)).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_revoking_a_revoked_key_keeps_its_first_revocation_time(owner, issued):
    key, _ = issued
    key.revoke()
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    response = owner.client.post(revoke_url(key), follow=True)
    assert "Accounting export was already revoked." in response.content.decode()
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first


def test_outsider_cannot_revoke_another_organizations_key(outsider, issued):
    key, raw = issued
    response = outsider.client.post(revoke_url(key))
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert api_status(raw) == 200


def test_outsider_does_not_see_another_organizations_keys(outsider, issued):
    response = outsider.client.get(LIST)
    assert response.status_code == 200
    assert list(response.context["keys"]) == []
    assert "Accounting export" not in response.content.decode()


def test_revoke_by_get_is_refused_and_changes_nothing(owner, issued):
    key, _ = issued
    response = owner.client.get(revoke_url(key))
    assert response.status_code == 405
    key.refresh_from_db()
    assert key.revoked_at is None


def test_anonymous_visitor_is_sent_to_log_in(issued):
    response = Client().post(LIST, {"name": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert ApiKey.objects.count() == 1


def test_sidebar_links_to_settings(member):
    body = member.client.get(reverse("automations:documents")).content.decode()
    assert f'<a href="{LIST}" >Settings</a>' in body
    page = member.client.get(LIST).content.decode()
    assert f'<a href="{LIST}" aria-current="page">Settings</a>' in page
