"""Login limits hold everywhere: the admin, a shared cache for the counters, the client address.

tests/conftest.py turns allauth's rate limits off for every test; these turn them back on.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import clear_url_caches, reverse

import pyq_site.urls
from accounts.models import User
from pyq_site.client_ip import client_ip, forwarded_address
from tests.accounts.test_auth import PASSWORD, logged_in_user_id, verified_user
from tests.pyq_site.test_settings import REPO_ROOT, manage_check, output

pytestmark = pytest.mark.django_db

LOGIN = reverse("account_login")
ADMIN_LOGIN = "/admin/login/"
LOCKED = "Too many failed login attempts. Try again later."
WRONG = "not the password"


@pytest.fixture
def limits_on(settings):
    """allauth's own defaults: login_failed 10 a minute per address, 5 in 5 minutes per email."""
    settings.ACCOUNT_RATE_LIMITS = {}
    return settings


@pytest.fixture
def admin_on(settings):
    """PYQ_ADMIN_ENABLED=true: the URLconf is read again with the admin in it."""
    settings.PYQ_ADMIN_ENABLED = True
    importlib.reload(pyq_site.urls)
    clear_url_caches()
    yield
    settings.PYQ_ADMIN_ENABLED = False
    importlib.reload(pyq_site.urls)
    clear_url_caches()


def staff_user(email: str = "root@example.com") -> User:
    return User.objects.create_superuser(email, PASSWORD)


def admin_log_in(client: Client, email: str, password: str, **extra):
    return client.post(
        ADMIN_LOGIN, {"username": email, "password": password, "next": "/admin/"}, **extra
    )


def site_log_in(client: Client, email: str, password: str, **extra):
    return client.post(LOGIN, {"login": email, "password": password}, **extra)


def stored_cache_keys(prefix: str) -> list[str]:
    """The keys under `prefix` read straight from the cache's store, not through Django's cache."""
    config = django_settings.CACHES["default"]
    if config["BACKEND"].endswith("RedisCache"):
        import redis

        client = redis.Redis.from_url(config["LOCATION"])
        try:
            return sorted(k.decode() for k in client.scan_iter(match=f"{prefix}*"))
        finally:
            client.close()
    assert config["LOCATION"] == "pyq_cache"
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM pyq_cache WHERE cache_key LIKE %s", [f"{prefix}%"])
        return sorted(row[0] for row in cursor.fetchall())


# --- The Django admin ----------------------------------------------------------------------------


def test_the_admin_is_off_by_default(client):
    staff_user()

    assert client.get(ADMIN_LOGIN).status_code == 404
    assert admin_log_in(client, "root@example.com", PASSWORD).status_code == 404
    assert logged_in_user_id(client) is None


def test_the_admin_login_locks_out_after_five_failures_like_the_site_login(
    client, limits_on, admin_on
):
    # Given the admin turned on and a superuser
    user = staff_user()

    # When five wrong passwords are sent to the admin's login
    for _ in range(5):
        refused = admin_log_in(client, "root@example.com", WRONG)
        assert refused.status_code == 200
        assert "Please enter the correct email" in refused.content.decode()

    # Then the right password is refused too, before it is checked, and no session starts
    locked = admin_log_in(client, "root@example.com", PASSWORD)
    assert locked.status_code == 200
    assert LOCKED in locked.content.decode()
    assert logged_in_user_id(client) is None
    # while another account is not locked
    other = User.objects.create_superuser("other@example.com", PASSWORD)
    assert admin_log_in(client, "other@example.com", PASSWORD).url == "/admin/"
    assert logged_in_user_id(client) == str(other.pk)
    assert logged_in_user_id(client) != str(user.pk)


def test_the_admin_login_works_and_a_success_does_not_count(client, limits_on, admin_on):
    user = staff_user()
    for _ in range(4):
        admin_log_in(client, "root@example.com", WRONG)

    response = admin_log_in(client, "Root@Example.com", PASSWORD)

    assert response.status_code == 302
    assert response.url == "/admin/"
    assert logged_in_user_id(client) == str(user.pk)
    assert client.get("/admin/").status_code == 200


def test_failures_on_the_site_login_lock_the_admin_login_and_back(client, limits_on, admin_on):
    # One count for both pages: neither is a way around the other's lockout.
    staff_user()
    for _ in range(5):
        assert site_log_in(client, "root@example.com", WRONG).status_code == 200

    assert LOCKED in admin_log_in(client, "root@example.com", PASSWORD).content.decode()
    assert logged_in_user_id(client) is None

    verified_user("ann@example.com")
    for _ in range(5):
        admin_log_in(client, "ann@example.com", WRONG)
    assert LOCKED in site_log_in(client, "ann@example.com", PASSWORD).content.decode()
    assert logged_in_user_id(client) is None


def test_the_admin_login_answers_429_past_the_per_address_login_limit(client, limits_on, admin_on):
    limits_on.ACCOUNT_RATE_LIMITS = {"login": "3/m/ip"}
    staff_user()
    for _ in range(3):
        assert admin_log_in(client, "root@example.com", WRONG).status_code == 200

    response = admin_log_in(client, "root@example.com", PASSWORD)

    assert response.status_code == 429
    assert logged_in_user_id(client) is None


# --- The counters live in the shared cache ----------------------------------------------------


def test_the_default_cache_is_shared_redis_with_a_redis_broker_else_the_database():
    config = django_settings.CACHES["default"]
    if django_settings.CELERY_BROKER_URL.startswith("redis"):
        assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
        assert config["LOCATION"] == django_settings.CELERY_BROKER_URL
    else:
        assert config["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
        assert config["LOCATION"] == "pyq_cache"


def settings_with(tmp_path, **variables: str) -> dict:
    """Settings as a fresh process reads them with only `variables` set among Pyq's own."""
    script = (
        "import json; from django.conf import settings as s; c = s.CACHES['default']; "
        "print(json.dumps([c['BACKEND'], c['LOCATION'], c['KEY_PREFIX'], "
        "s.PYQ_TRUSTED_PROXY_COUNT, s.ALLAUTH_TRUSTED_PROXY_COUNT, s.PYQ_ADMIN_ENABLED]))"
    )
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("PYQ_") and k != "DATABASE_URL"
    }
    environment.update(variables, PYQ_DATA_DIR=str(tmp_path))
    shown = (
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    backend, location, prefix, trusted, allauth_trusted, admin = json.loads(shown)
    return {
        "cache": (backend, location, prefix),
        "trusted": (trusted, allauth_trusted),
        "admin": admin,
    }


DATABASE_CACHE = "django.core.cache.backends.db.DatabaseCache"
REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


@pytest.mark.parametrize(
    ("variables", "cache"),
    [
        ({}, (DATABASE_CACHE, "pyq_cache", "pyq")),
        (
            {"PYQ_BROKER_URL": "redis://127.0.0.1:6379/3"},
            (REDIS_CACHE, "redis://127.0.0.1:6379/3", "pyq"),
        ),
        (
            {"PYQ_BROKER_URL": "redis://127.0.0.1:6379/3", "PYQ_CACHE_URL": "redis://c:6379/1"},
            (REDIS_CACHE, "redis://c:6379/1", "pyq"),
        ),
    ],
    ids=["database", "broker-redis", "own-url"],
)
def test_the_cache_follows_the_configuration(tmp_path, variables, cache):
    assert settings_with(tmp_path, **variables)["cache"] == cache


def test_defaults_admin_off_no_proxy_trusted_and_one_behind_a_proxy(tmp_path):
    defaults = settings_with(tmp_path)
    assert (defaults["admin"], defaults["trusted"]) == (False, (0, 0))
    assert settings_with(tmp_path, PYQ_BEHIND_PROXY="true")["trusted"] == (1, 1)
    assert settings_with(tmp_path, PYQ_BEHIND_PROXY="true", PYQ_TRUSTED_PROXY_COUNT="2")[
        "trusted"
    ] == (2, 2)


def test_a_cache_url_pyq_cannot_use_fails_the_check(tmp_path):
    result = manage_check(tmp_path, PYQ_CACHE_URL="memcached://x")
    assert result.returncode != 0
    assert "(pyq.E001) PYQ_CACHE_URL='memcached://x' is not a cache Pyq supports" in output(result)


def test_failed_logins_are_counted_in_the_shared_store_not_in_process_memory(client, limits_on):
    verified_user("ann@example.com")
    prefix = django_settings.CACHES["default"]["KEY_PREFIX"]

    site_log_in(client, "ann@example.com", WRONG)

    # The store itself (Redis, or the database's cache table) holds the counters ...
    keys = stored_cache_keys(f"{prefix}:1:allauth:rl:allauth.account:login_failed:")
    assert len(keys) == 2, keys  # one per address, one per email
    # ... and a new cache connection, as another process or a restarted one makes, sees them
    fresh = caches.create_connection("default")
    for key in keys:
        assert fresh.get(key.removeprefix(f"{prefix}:1:")) is not None
    for _ in range(4):
        site_log_in(client, "ann@example.com", WRONG)
    caches["default"].close()
    assert LOCKED in site_log_in(Client(), "ann@example.com", PASSWORD).content.decode()


# --- The client address behind proxies -------------------------------------------------------


@pytest.mark.parametrize(
    ("forwarded", "trusted", "expected"),
    [
        ("203.0.113.7", 1, "203.0.113.7"),
        ("198.51.100.1, 203.0.113.7", 1, "203.0.113.7"),  # the client's own entry is ignored
        ("198.51.100.1, 203.0.113.7, 10.0.0.2", 2, "203.0.113.7"),
        ("203.0.113.7", 2, "203.0.113.7"),  # fewer entries than proxies: all are ours
        ("198.51.100.1,203.0.113.7:5150", 1, "203.0.113.7"),
        ("198.51.100.1, [2001:db8::7]:443", 1, "2001:db8::7"),
        ("198.51.100.1, not-an-address", 1, None),
        ("", 1, None),
        ("203.0.113.7", 0, None),
    ],
)
def test_forwarded_address_is_the_nth_from_the_right(forwarded, trusted, expected):
    assert forwarded_address(forwarded, trusted) == expected


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.1"),  # no proxy trusted: the header is the client's word
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        (1, None, "10.0.0.1"),
        (1, "garbage", "10.0.0.1"),
    ],
)
def test_client_ip_uses_the_trusted_proxy_count(settings, trusted, forwarded, expected):
    settings.PYQ_TRUSTED_PROXY_COUNT = trusted
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **headers)
    assert client_ip(request) == expected


def behind_proxy(forwarded_for: str) -> dict:
    """The request as the proxy at 10.0.0.1 passes it on: the client's address appended."""
    return {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded_for}


def test_behind_a_proxy_one_clients_failures_do_not_lock_out_another(client, limits_on):
    limits_on.PYQ_TRUSTED_PROXY_COUNT = 1
    limits_on.ACCOUNT_RATE_LIMITS = {"login_failed": "3/m/ip"}
    verified_user("ann@example.com")
    bob = verified_user("bob@example.com")

    # Given a client at 203.0.113.7 that failed three times through the proxy
    for _ in range(3):
        site_log_in(client, "ann@example.com", WRONG, **behind_proxy("203.0.113.7"))
    assert (
        LOCKED
        in (
            site_log_in(client, "ann@example.com", PASSWORD, **behind_proxy("203.0.113.7"))
        ).content.decode()
    )

    # Then it stays locked when it forges another address in X-Forwarded-For
    spoofed = site_log_in(
        client, "bob@example.com", PASSWORD, **behind_proxy("198.51.100.9, 203.0.113.7")
    )
    assert LOCKED in spoofed.content.decode()
    assert logged_in_user_id(client) is None

    # While another client through the same proxy logs in
    other = Client()
    response = site_log_in(other, "bob@example.com", PASSWORD, **behind_proxy("198.51.100.9"))
    assert response.status_code == 302
    assert logged_in_user_id(other) == str(bob.pk)


def test_the_allauth_adapter_keys_on_pyqs_client_address(settings):
    from allauth.account.adapter import get_adapter

    settings.PYQ_TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().post("/", **behind_proxy("198.51.100.1, 203.0.113.7"))
    assert get_adapter(request).get_client_ip(request) == "203.0.113.7"
