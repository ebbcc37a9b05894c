"""Deployment settings: a Content-Security-Policy with no inline code on any page, the HTTPS
settings, `check --deploy` clean with the documented production variables, gunicorn, files
readable by Pyq's user only, and a secret key that processes starting together agree on."""

from __future__ import annotations

import multiprocessing
import os
import re
import secrets
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey
from automations import workflows
from automations.models import DataTable, Document
from pyq_site import env
from pyq_site.management.commands.pyq_run import GUNICORN_CONFIG, commands
from pyq_site.security import DEFAULT_CSP
from tests.automations.helpers import make_document, stored_files

REPO_ROOT = Path(__file__).resolve().parents[2]

# The production variables the README documents (with a made-up host and a fresh key).
PRODUCTION = {
    "PYQ_DEBUG": "false",
    "PYQ_ALLOWED_HOSTS": "pyq.example.com",
    "PYQ_SITE_URL": "https://pyq.example.com",
    "PYQ_CSRF_TRUSTED_ORIGINS": "https://pyq.example.com",
    "PYQ_BEHIND_PROXY": "true",
    "PYQ_SECURE_COOKIES": "true",
    "PYQ_SSL_REDIRECT": "true",
    "PYQ_HSTS_SECONDS": "31536000",
    "PYQ_HSTS_INCLUDE_SUBDOMAINS": "true",
    "PYQ_HSTS_PRELOAD": "true",
}

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)
INLINE_STYLE = re.compile(r"<style\b", re.I)


def pyq_environment(data_dir: Path, **variables: str) -> dict[str, str]:
    """This process's environment without Pyq's settings, with its own data folder."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYQ_") and key != "DATABASE_URL"
    }
    environment["DJANGO_SETTINGS_MODULE"] = "pyq_site.settings"
    environment["PYQ_DATA_DIR"] = str(data_dir)
    environment.update(variables)
    return environment


# --- the Content-Security-Policy and no inline code ---------------------------------------------


@pytest.fixture
def pages(owner) -> dict[str, str]:
    document = make_document(owner.org, "note.txt", b"Invoice INV-1 total 12.00")
    run = document.runs.get()
    workflow = workflows.create_workflow(
        owner.org, "Invoices", steps=[{"id": "text", "step": "extract_text"}]
    )
    workflows.publish(workflow)
    table = DataTable.objects.create(organization=owner.org, name="Invoices", columns=["total"])
    ApiKey.issue(owner.org, owner.user, "Accounting export")
    return {
        "documents": reverse("automations:documents"),
        "document": reverse("automations:document", args=[document.uid]),
        "runs": reverse("automations:runs"),
        "run": reverse("automations:run", args=[run.pk]),
        "workflows": reverse("automations:workflows"),
        "workflow": reverse("automations:workflow", args=[workflow.pk]),
        "history": reverse("automations:workflow_history", args=[workflow.pk]),
        "builder": reverse("automations:builder", args=[workflow.pk]),
        "new workflow": reverse("automations:builder_new"),
        "tables": reverse("automations:tables"),
        "table": reverse("automations:table", args=[table.pk]),
        "catalog": reverse("catalog:list"),
        "model": reverse("catalog:model", args=["receipt-extractor"]),
        "api keys": reverse("accounts:api_keys"),
    }


def assert_no_inline_code(html: str) -> None:
    assert INLINE_SCRIPT.findall(html) == []
    assert HANDLER.findall(html) == []
    assert STYLE_ATTRIBUTE.findall(html) == []
    assert INLINE_STYLE.findall(html) == []


def test_every_main_page_has_the_policy_and_no_inline_code(owner, pages) -> None:
    # Given the pages a member uses (as their owner, who sees every button)
    for name, url in pages.items():
        # When each is rendered
        response = owner.client.get(url)
        # Then it carries the policy, and has no inline script, handler or style that the
        # policy would block (page data as JSON is allowed: it is not run)
        assert response.status_code == 200, name
        assert response["Content-Security-Policy"] == DEFAULT_CSP, name
        assert_no_inline_code(response.content.decode())


def test_the_confirmations_are_data_attributes_for_static_js(owner, pages) -> None:
    html = owner.client.get(pages["document"]).content.decode()
    assert 'data-confirm="Delete this document and its text?"' in html
    assert "/static/js/pages.js" in html
    assert '"includeIndicatorStyles": false' in html


@pytest.mark.django_db
def test_the_login_and_error_pages_have_the_policy_too() -> None:
    client = Client()
    for url in (reverse("account_login"), reverse("account_signup"), "/no/such/page/"):
        response = client.get(url)
        assert response.status_code in (200, 404)
        assert response["Content-Security-Policy"] == DEFAULT_CSP
        assert_no_inline_code(response.content.decode())


def test_the_static_scripts_use_no_eval() -> None:
    for script in (REPO_ROOT / "static" / "js").glob("*.js"):
        text = script.read_text()
        assert not re.search(r"\beval\(|new Function\(|setAttribute\(\"style\"", text), script


@pytest.mark.django_db
def test_security_headers_on_every_answer() -> None:
    response = Client().get(reverse("account_login"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_https_settings_redirect_and_set_hsts(settings) -> None:
    # Given the HTTPS settings of production
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    # When a page is asked for over http Then it redirects to https
    plain = client.get(reverse("account_login"))
    assert (plain.status_code, plain["Location"]) == (
        301,
        "https://testserver" + reverse("account_login"),
    )
    # And over https the answer asks browsers to keep to https
    secure = client.get(reverse("account_login"), headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_the_https_settings_come_from_pyq_variables(tmp_path) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " s.SECURE_HSTS_PRELOAD, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SESSION_COOKIE_HTTPONLY)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=pyq_environment(tmp_path, **PRODUCTION),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["True", "31536000", "True", "True", "True", "True", "True"]


# --- manage.py check --deploy -----------------------------------------------------------------


def test_check_deploy_is_clean_with_the_production_variables(tmp_path) -> None:
    # Given the production variables of the README and a strong key
    variables = {**PRODUCTION, "PYQ_SECRET_KEY": secrets.token_urlsafe(50)}
    # When Django's deployment checks run, failing on any warning
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=pyq_environment(tmp_path, **variables),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then there is nothing to report, and nothing silenced
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output


def test_check_deploy_names_what_the_defaults_lack(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO_ROOT,
        env=pyq_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output


# --- gunicorn ---------------------------------------------------------------------------------


def test_pyq_run_starts_gunicorn_when_asked() -> None:
    assert commands("127.0.0.1:8000", 2)["web"][1:] == [
        "manage.py",
        "runserver",
        "127.0.0.1:8000",
        "--noreload",
    ]
    assert commands("0.0.0.0:8000", 2, server="gunicorn")["web"][1:] == [
        "-m",
        "gunicorn",
        "-c",
        str(GUNICORN_CONFIG),
        "--bind",
        "0.0.0.0:8000",
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _first_answer(url: str, server: subprocess.Popen) -> urllib.error.HTTPError:
    """The error answer to ``url`` once the server listens (it starts in a few seconds)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
        except urllib.error.HTTPError as answer:
            return answer
        except OSError:
            assert server.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.2)
        else:
            raise AssertionError(f"{url} answered 200")


def test_gunicorn_serves_pyq_with_its_config(tmp_path) -> None:
    # Given gunicorn started with Pyq's config on a loopback port
    port = _free_port()
    server = subprocess.Popen(
        [*commands(f"127.0.0.1:{port}", 1, server="gunicorn")["web"], "--workers", "1"],
        cwd=REPO_ROOT,
        env=pyq_environment(tmp_path, PYQ_WEB_MAX_REQUESTS="50"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # When a page is asked for (the error page needs no database)
        answer = _first_answer(f"http://127.0.0.1:{port}/no/such/page/", server)
        # Then Pyq answered through gunicorn with its headers
        assert answer.code == 404
        assert answer.headers["Content-Security-Policy"] == DEFAULT_CSP
        assert answer.headers["X-Frame-Options"] == "DENY"
        # And a request line past gunicorn's limit never reaches Django
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 414 URI Too Long")
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_the_gunicorn_config_sets_its_limits() -> None:
    config: dict = {}
    exec(compile(GUNICORN_CONFIG.read_text(), str(GUNICORN_CONFIG), "exec"), config)  # noqa: S102
    assert config["wsgi_app"] == "pyq_site.wsgi:application"
    assert (config["limit_request_line"], config["limit_request_fields"]) == (4094, 100)
    assert config["limit_request_field_size"] == 8190
    assert (config["max_requests"], config["max_requests_jitter"]) == (1000, 100)
    assert config["timeout"] == 120
    assert config["workers"] >= 1
    assert callable(config["post_fork"])


# --- files readable by Pyq's user only ----------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_upload_is_stored_for_pyqs_user_only_and_linked_once(member, settings) -> None:
    # Given the storage's modes (0600 files, 0700 folders)
    assert (settings.FILE_UPLOAD_PERMISSIONS, settings.FILE_UPLOAD_DIRECTORY_PERMISSIONS) == (
        0o600,
        0o700,
    )
    # When a document is uploaded
    document = make_document(member.org, "note.txt", b"private text")
    # Then its file and every folder to it are Pyq's user's only
    (stored,) = stored_files()
    assert stored == Path(settings.MEDIA_ROOT) / document.file.name
    assert mode(stored) == 0o600
    folder = stored.parent
    while folder != Path(settings.MEDIA_ROOT):
        assert mode(folder) == 0o700, folder
        folder = folder.parent
    # And it was linked into place (one file, no second copy), not saved again
    assert stored.stat().st_nlink == 1
    assert Document.objects.get().file.read() == b"private text"


def test_the_data_folder_database_and_key_are_pyqs_users_only(tmp_path) -> None:
    # Given a new data folder
    data = tmp_path / "var"
    # When Pyq starts there and opens its SQLite database
    code = (
        "import django; django.setup(); from django.db import connection; "
        "connection.ensure_connection(); "
        "connection.cursor().execute('create table t (x int)'); "
        "open('/dev/null').close()"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=pyq_environment(data),
        check=True,
        timeout=120,
    )
    # Then the folder, the database, its journal and the key are its user's only
    assert mode(data) == 0o700
    assert mode(data / "pyq.sqlite3") == 0o600
    assert mode(data / "secret-key") == 0o600
    for path in data.rglob("*"):
        assert mode(path) & 0o077 == 0, path


def test_an_existing_data_folder_is_made_private_at_start(tmp_path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    (data / "pyq.sqlite3").touch(mode=0o644)
    subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO_ROOT,
        env=pyq_environment(data),
        check=True,
        timeout=120,
    )
    assert (mode(data), mode(data / "pyq.sqlite3")) == (0o700, 0o600)


# --- the generated secret key ------------------------------------------------------------------


def _read_key(path: str, barrier, keys) -> None:
    barrier.wait()
    keys.put(env.local_secret_key(Path(path)))


def test_processes_starting_together_agree_on_one_whole_key(tmp_path) -> None:
    # Given eight processes that make the data folder's key at the same moment, many times
    context = multiprocessing.get_context("fork")
    for attempt in range(10):
        path = tmp_path / f"secret-key-{attempt}"
        barrier = context.Barrier(8)
        keys = context.Queue()
        processes = [
            context.Process(target=_read_key, args=(str(path), barrier, keys)) for _ in range(8)
        ]
        for process in processes:
            process.start()
        found = [keys.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(60)
        # Then each read the same key, never an empty or a partial one
        assert len(set(found)) == 1, found
        assert len(found[0]) >= 50
        assert path.read_text() == found[0]
        assert mode(path) == 0o600
    # And no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"secret-key-{n}" for n in range(10)]
