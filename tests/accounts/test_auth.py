"""Accounts: sign-up through allauth's real views, login, password reset, organizations."""

from __future__ import annotations

import io
import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.middleware import SESSION_KEY as ORG_SESSION_KEY
from accounts.models import Membership, Organization, Role, User
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("automations:documents")
LOGIN = reverse("account_login")
SIGNUP = reverse("account_signup")
VERIFICATION_SENT = reverse("account_email_verification_sent")
PASSWORD = "correct horse battery"  # what UserFactory sets
NEW_PASSWORD = "Velvet-Lantern-93"
CONFIRM_PREFIX = reverse("account_confirm_email", args=["KEY"]).removesuffix("KEY/")
RESET_PREFIX = "/accounts/password/reset/key/"


def org_badge(name: str) -> str:
    """The sidebar line naming the organization the user works in now (templates/base.html)."""
    return f'<div class="org-name" title="Organization">{name}</div>'


def link_in(message, prefix: str) -> str:
    """The path of the one link in an email body that starts with `prefix`."""
    paths = [p for p in re.findall(r"https?://[^/\s]+(/\S*)", message.body) if p.startswith(prefix)]
    assert len(paths) == 1, message.body
    return paths[0]


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get(AUTH_SESSION_KEY)


def sign_up(client: Client, email: str, organization: str = "", password: str = NEW_PASSWORD):
    return client.post(
        SIGNUP,
        {
            "email": email,
            "password1": password,
            "password2": password,
            "organization": organization,
        },
    )


def log_in(client: Client, email: str, password: str):
    return client.post(LOGIN, {"login": email, "password": password})


def verified_user(email: str = "ann@example.com") -> User:
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


# --- Sign-up and email verification --------------------------------------------------------------


def test_sign_up_creates_user_org_and_owner_then_verification_unlocks_the_dashboard(client):
    # Given a visitor on the sign-up page
    # When they sign up with a mixed-case email and an organization name
    response = sign_up(client, "Ann@Example.COM", organization="Ann Bakery")

    # Then one user exists, stored lower-case, owning one new organization
    assert response.status_code == 302
    assert response.url == VERIFICATION_SENT
    user = User.objects.get()
    assert user.email == "ann@example.com"
    assert user.check_password(NEW_PASSWORD)
    org = Organization.objects.get()
    assert (org.name, org.slug) == ("Ann Bakery", "ann-bakery")
    assert list(Membership.objects.values_list("organization", "user", "role")) == [
        (org.pk, user.pk, Role.OWNER)
    ]
    # And the address is recorded unverified, with one verification email holding a link
    address = EmailAddress.objects.get()
    assert (address.user_id, address.email, address.verified) == (user.pk, "ann@example.com", False)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ann@example.com"]
    assert message.subject.startswith("[Pyq] ")
    confirm_path = link_in(message, CONFIRM_PREFIX)

    # And they are shown the "verify your email" page, not logged in
    page = client.get(response.url)
    assert page.status_code == 200
    assert "Verify Your Email Address" in page.content.decode()
    assert logged_in_user_id(client) is None

    # And the dashboard sends them to the login page
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next={DASHBOARD}"

    # And logging in with the right password is refused until the address is verified
    response = log_in(client, "ann@example.com", NEW_PASSWORD)
    assert response.status_code == 302
    assert response.url == VERIFICATION_SENT
    assert logged_in_user_id(client) is None
    assert client.get(DASHBOARD).status_code == 302

    # When they open the link, a confirmation page is shown and nothing is verified yet
    page = client.get(confirm_path)
    assert page.status_code == 200
    assert "Confirm Email Address" in page.content.decode()
    assert "ann@example.com" in page.content.decode()
    address.refresh_from_db()
    assert address.verified is False
    assert logged_in_user_id(client) is None

    # When they confirm
    response = client.post(confirm_path)

    # Then the address is verified and primary, and they are logged in on the dashboard
    assert response.status_code == 302
    assert response.url == DASHBOARD
    address.refresh_from_db()
    assert (address.verified, address.primary) == (True, True)
    assert logged_in_user_id(client) == str(user.pk)
    dashboard = client.get(DASHBOARD)
    assert dashboard.status_code == 200
    assert org_badge("Ann Bakery") in dashboard.content.decode()
    assert dashboard.context["org"] == org


def test_confirming_in_another_browser_verifies_but_does_not_log_in(client):
    # Given a user who signed up in one browser
    sign_up(client, "ann@example.com", organization="Ann Bakery")
    confirm_path = link_in(mail.outbox[0], CONFIRM_PREFIX)
    # When the link is confirmed from a browser that never signed up
    other = Client()
    response = other.post(confirm_path)
    # Then the address is verified but that browser is not logged in
    assert response.status_code == 302
    assert EmailAddress.objects.get().verified is True
    assert logged_in_user_id(other) is None
    assert other.get(DASHBOARD).status_code == 302
    # And the user can now log in with their password
    assert log_in(other, "ann@example.com", NEW_PASSWORD).url == DASHBOARD
    assert other.get(DASHBOARD).status_code == 200


def test_sign_up_without_organization_name_names_it_after_the_email(client):
    # When someone signs up leaving the organization name empty
    response = sign_up(client, "ann@example.com", organization="")
    # Then their organization is named after the local part of their email
    assert response.status_code == 302
    org = Organization.objects.get()
    assert org.name == "ann's workspace"
    assert org.slug == "anns-workspace"
    membership = Membership.objects.get()
    assert (membership.organization, membership.user.email, membership.role) == (
        org,
        "ann@example.com",
        Role.OWNER,
    )


def test_two_sign_ups_with_the_same_org_name_get_distinct_slugs(client):
    sign_up(client, "ann@example.com", organization="Acme")
    sign_up(Client(), "bob@example.com", organization="Acme")
    assert sorted(Organization.objects.values_list("name", "slug")) == [
        ("Acme", "acme"),
        ("Acme", "acme-2"),
    ]


def test_duplicate_sign_up_creates_nothing_and_warns_the_owner_by_email(client):
    # Given an existing account
    existing = verified_user("ann@example.com")
    MembershipFactory(user=existing, organization__name="Ann Bakery", role=Role.OWNER)
    # When someone signs up again with the same address in another case
    response = sign_up(client, "ANN@example.com", organization="Impostor Inc")
    # Then (mandatory verification hides which addresses exist) the usual "check your email"
    # answer is given, but nothing is created and the owner is told by email
    assert response.status_code == 302
    assert response.url == VERIFICATION_SENT
    assert list(User.objects.values_list("email", flat=True)) == ["ann@example.com"]
    assert list(Organization.objects.values_list("name", flat=True)) == ["Ann Bakery"]
    assert Membership.objects.count() == 1
    assert EmailAddress.objects.count() == 1
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)
    assert logged_in_user_id(client) is None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ann@example.com"]
    assert "Account Already Exists" in mail.outbox[0].subject


def test_duplicate_sign_up_is_refused_with_an_error_when_verification_is_optional(client, settings):
    # Given verification is not mandatory, so allauth may say the address is taken
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    verified_user("ann@example.com")
    # When someone signs up again with the same address
    response = sign_up(client, "Ann@Example.com", organization="Impostor Inc")
    # Then the form is shown again with the error, and nothing is created
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "A user is already registered with this email address."
    ]
    assert User.objects.count() == 1
    assert Organization.objects.count() == 0
    assert Membership.objects.count() == 0
    assert EmailAddress.objects.count() == 1
    assert logged_in_user_id(client) is None
    assert mail.outbox == []


def test_sign_up_with_mismatched_passwords_creates_nothing(client):
    response = client.post(
        SIGNUP,
        {
            "email": "ann@example.com",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD + "x",
            "organization": "Ann Bakery",
        },
    )
    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert (User.objects.count(), Organization.objects.count(), len(mail.outbox)) == (0, 0, 0)


# --- Login, logout, password reset ---------------------------------------------------------------


def test_verified_user_logs_in_with_email_and_password_in_any_case(client):
    user = verified_user("ann@example.com")
    response = log_in(client, "ANN@Example.com", PASSWORD)
    assert response.status_code == 302
    assert response.url == DASHBOARD
    assert logged_in_user_id(client) == str(user.pk)


def test_wrong_password_is_refused(client):
    verified_user("ann@example.com")
    response = log_in(client, "ann@example.com", "not the password")
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "The email address and/or password you specified are not correct."
    ]
    assert logged_in_user_id(client) is None
    assert client.get(DASHBOARD).status_code == 302


def test_unknown_email_is_refused(client):
    response = log_in(client, "nobody@example.com", PASSWORD)
    assert response.status_code == 200
    assert logged_in_user_id(client) is None


def test_logout_by_post_ends_the_session(client):
    user = verified_user("ann@example.com")
    MembershipFactory(user=user)
    log_in(client, "ann@example.com", PASSWORD)
    assert client.get(DASHBOARD).status_code == 200
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert logged_in_user_id(client) is None
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next={DASHBOARD}"


def test_password_reset_by_email_link(client):
    # Given a verified user who forgot their password
    user = verified_user("ann@example.com")
    # When they ask for a reset
    response = client.post(reverse("account_reset_password"), {"email": "ann@example.com"})
    # Then one email is sent with a reset link
    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ann@example.com"]
    reset_path = link_in(mail.outbox[0], RESET_PREFIX)
    # When they follow it (allauth moves the key into the session) and set a new password
    response = client.get(reset_path)
    assert response.status_code == 302
    form_page = client.get(response.url)
    assert form_page.status_code == 200
    assert 'name="password1"' in form_page.content.decode()
    response = client.post(response.url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_from_key_done")
    # Then the new password logs in and the old one no longer does
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(PASSWORD)
    fresh = Client()
    assert log_in(fresh, "ann@example.com", PASSWORD).status_code == 200
    assert logged_in_user_id(fresh) is None
    assert log_in(fresh, "ann@example.com", NEW_PASSWORD).url == DASHBOARD
    assert logged_in_user_id(fresh) == str(user.pk)


def test_password_reset_link_works_only_once(client):
    user = verified_user("ann@example.com")
    client.post(reverse("account_reset_password"), {"email": "ann@example.com"})
    reset_path = link_in(mail.outbox[0], RESET_PREFIX)
    set_url = client.get(reset_path).url
    client.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    # The same link, used again in another browser, changes nothing
    other = Client()
    response = other.get(reset_path, follow=True)
    assert response.status_code == 200
    assert response.context["token_fail"] is True
    response = other.post(set_url, {"password1": "Another-Pass-77", "password2": "Another-Pass-77"})
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password("Another-Pass-77")


# --- Look ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url_name", ["account_login", "account_signup", "account_reset_password"])
def test_allauth_pages_use_pyq_entrance_layout(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<main class="auth-card" id="main">' in html
    assert '<a class="brand" href="/">' in html
    assert '<p class="auth-foot">' in html
    assert '<body class="auth"' in html
    assert "· Pyq</title>" in html


def test_signup_page_asks_for_the_organization_name(client):
    html = client.get(SIGNUP).content.decode()
    assert 'name="organization"' in html
    assert "Organization name" in html


# --- Organizations and the middleware ------------------------------------------------------------


@pytest.fixture
def two_org_user(db):
    first = OrganizationFactory(name="First Co", slug="first")
    second = OrganizationFactory(name="Second Co", slug="second")
    user = UserFactory()
    MembershipFactory(user=user, organization=first, role=Role.OWNER)
    MembershipFactory(user=user, organization=second, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    return user, first, second, client


def test_user_in_two_orgs_works_in_the_first_by_default(two_org_user):
    _user, first, _second, client = two_org_user
    response = client.get(DASHBOARD)
    assert response.status_code == 200
    assert org_badge("First Co") in response.content.decode()
    assert org_badge("Second Co") not in response.content.decode()
    assert response.context["org"] == first
    assert client.session[ORG_SESSION_KEY] == first.pk


def test_user_switches_to_their_other_org(two_org_user):
    _user, _first, second, client = two_org_user
    client.get(DASHBOARD)
    response = client.post(reverse("accounts:switch_organization", args=["second"]))
    assert response.status_code == 302
    assert response.url == DASHBOARD
    assert client.session[ORG_SESSION_KEY] == second.pk
    dashboard = client.get(DASHBOARD)
    assert org_badge("Second Co") in dashboard.content.decode()
    assert dashboard.context["membership"].role == Role.VIEWER


def test_switching_to_an_org_they_are_not_in_is_404_and_changes_nothing(two_org_user, outsider):
    _user, first, _second, client = two_org_user
    client.get(DASHBOARD)
    response = client.post(reverse("accounts:switch_organization", args=[outsider.org.slug]))
    assert response.status_code == 404
    assert client.session[ORG_SESSION_KEY] == first.pk
    dashboard = client.get(DASHBOARD)
    assert org_badge("First Co") in dashboard.content.decode()
    assert org_badge("Other Co") not in dashboard.content.decode()


def test_switching_to_an_unknown_slug_is_404(two_org_user):
    _user, first, _second, client = two_org_user
    client.get(DASHBOARD)
    response = client.post(reverse("accounts:switch_organization", args=["no-such-org"]))
    assert response.status_code == 404
    assert client.session[ORG_SESSION_KEY] == first.pk


def test_switching_by_get_is_not_allowed(two_org_user):
    _user, first, _second, client = two_org_user
    client.get(DASHBOARD)
    response = client.get(reverse("accounts:switch_organization", args=["second"]))
    assert response.status_code == 405
    assert client.session[ORG_SESSION_KEY] == first.pk


def test_session_org_the_user_was_removed_from_falls_back_to_a_remaining_one(two_org_user):
    user, first, second, client = two_org_user
    client.post(reverse("accounts:switch_organization", args=["second"]))
    Membership.objects.filter(user=user, organization=second).delete()
    dashboard = client.get(DASHBOARD)
    assert dashboard.status_code == 200
    assert org_badge("First Co") in dashboard.content.decode()
    assert client.session[ORG_SESSION_KEY] == first.pk


def test_user_without_membership_is_sent_to_create_a_workspace(user_without_org):
    client = Client()
    client.force_login(user_without_org)
    # The dashboard redirects them to the welcome page
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response.url == reverse("accounts:no_organization")
    page = client.get(response.url)
    assert page.status_code == 200
    assert "Create a workspace" in page.content.decode()
    # When they post a name, they own a new organization and land on its dashboard
    response = client.post(reverse("accounts:no_organization"), {"name": "Fresh Start"})
    assert response.status_code == 302
    assert response.url == DASHBOARD
    org = Organization.objects.get()
    assert (org.name, org.slug) == ("Fresh Start", "fresh-start")
    assert list(Membership.objects.values_list("organization", "user", "role")) == [
        (org.pk, user_without_org.pk, Role.OWNER)
    ]
    assert client.session[ORG_SESSION_KEY] == org.pk
    dashboard = client.get(DASHBOARD)
    assert dashboard.status_code == 200
    assert org_badge("Fresh Start") in dashboard.content.decode()


def test_welcome_page_with_empty_name_creates_nothing(user_without_org):
    client = Client()
    client.force_login(user_without_org)
    response = client.post(reverse("accounts:no_organization"), {"name": "  "})
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert Organization.objects.count() == 0
    assert Membership.objects.count() == 0


def test_member_visiting_the_welcome_page_goes_to_the_dashboard_and_creates_nothing(owner):
    response = owner.client.post(reverse("accounts:no_organization"), {"name": "Second"})
    assert response.status_code == 302
    assert response.url == DASHBOARD
    assert list(Organization.objects.values_list("name", flat=True)) == ["Acme Ltd"]


def test_welcome_page_needs_login(client):
    url = reverse("accounts:no_organization")
    response = client.post(url, {"name": "Anon Org"})
    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next={url}"
    assert Organization.objects.count() == 0


# --- Demo command --------------------------------------------------------------------------------


def test_pyq_demo_creates_a_verified_demo_login_once(client):
    # When the command runs twice
    out = io.StringIO()
    call_command("pyq_demo", stdout=out)
    call_command("pyq_demo", stdout=out)
    # Then there is one demo user, one organization they own, and a verified primary address
    user = User.objects.get()
    assert user.email == "demo@pyq.local"
    org = Organization.objects.get()
    assert org.name == "Demo Company"
    assert list(Membership.objects.values_list("organization", "user", "role")) == [
        (org.pk, user.pk, Role.OWNER)
    ]
    address = EmailAddress.objects.get()
    assert (address.user_id, address.email, address.verified, address.primary) == (
        user.pk,
        "demo@pyq.local",
        True,
        True,
    )
    # And the printed login works through the real login page
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == lines[1]
    match = re.fullmatch(r"Demo login: (\S+) / (\S+)", lines[0])
    assert match is not None
    email, password = match.groups()
    assert email == "demo@pyq.local"
    response = log_in(client, email, password)
    assert response.status_code == 302
    assert response.url == DASHBOARD
    dashboard = client.get(DASHBOARD)
    assert dashboard.status_code == 200
    assert org_badge("Demo Company") in dashboard.content.decode()


# --- Users ---------------------------------------------------------------------------------------


def test_user_manager_stores_email_lower_case():
    user = User.objects.create_user("Bob@Example.COM", PASSWORD)
    admin = User.objects.create_superuser("Root@Example.COM", PASSWORD)
    assert list(User.objects.order_by("pk").values_list("email", flat=True)) == [
        "bob@example.com",
        "root@example.com",
    ]
    assert (user.is_staff, user.is_superuser) == (False, False)
    assert (admin.is_staff, admin.is_superuser) == (True, True)
    assert user.check_password(PASSWORD)


def test_user_manager_requires_an_email():
    with pytest.raises(ValueError, match=r"^An email address is required\.$"):
        User.objects.create_user("", PASSWORD)
    assert User.objects.count() == 0


# --- Roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "can_write"),
    [(Role.OWNER, True), (Role.ADMIN, True), (Role.MEMBER, True), (Role.VIEWER, False)],
)
def test_membership_can_write_by_role(role, can_write):
    membership = Membership(role=role)
    assert membership.can("view") is True
    assert membership.can("write") is can_write


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.OWNER, {"view", "write", "manage_members", "manage_billing", "delete_org"}),
        (Role.ADMIN, {"view", "write", "manage_members"}),
        (Role.MEMBER, {"view", "write"}),
        (Role.VIEWER, {"view"}),
    ],
)
def test_membership_permissions_by_role(role, allowed):
    everything = {"view", "write", "manage_members", "manage_billing", "delete_org", "unknown"}
    membership = Membership(role=role)
    assert {p for p in everything if membership.can(p)} == allowed
