"""Configuration: a wrong PYQ_* value is reported by `manage.py check` with a stable id."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pyq_site import env
from pyq_site.env import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


def manage_check(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run `manage.py check` with only `variables` set among Pyq's own settings."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYQ_") and key != "DATABASE_URL"
    }
    environment["DJANGO_SETTINGS_MODULE"] = "pyq_site.settings"
    environment["PYQ_DATA_DIR"] = str(tmp_path)
    environment.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


# --- manage.py check -----------------------------------------------------------------------------


def test_check_passes_with_all_defaults(tmp_path):
    result = manage_check(tmp_path)
    assert result.returncode == 0, output(result)
    assert "System check identified no issues" in output(result)
    assert "pyq.E" not in output(result)
    # The embedded defaults keep their state in the data folder given
    assert (tmp_path / "secret-key").is_file()


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"PYQ_BROKER_URL": "bogus://x"},
            "(pyq.E003) PYQ_BROKER_URL='bogus://x' is not a broker Pyq supports",
        ),
        ({"DATABASE_URL": "nonsense"}, "(pyq.E002) DATABASE_URL is not a database URL"),
        (
            {"PYQ_MAX_UPLOAD_MB": "abc"},
            "(pyq.E001) PYQ_MAX_UPLOAD_MB='abc' is not a whole number.",
        ),
        ({"PYQ_MAX_UPLOAD_MB": "0"}, "(pyq.E001) PYQ_MAX_UPLOAD_MB=0 must be at least 1."),
        ({"PYQ_DEBUG": "maybe"}, "(pyq.E001) PYQ_DEBUG='maybe' is not a boolean"),
        (
            {"PYQ_EMAIL_VERIFICATION": "sometimes"},
            "(pyq.E001) PYQ_EMAIL_VERIFICATION='sometimes' is not one of: "
            "mandatory, optional, none.",
        ),
        ({"PYQ_STORAGE": "s3"}, "(pyq.E004) PYQ_STORAGE=s3 needs PYQ_S3_BUCKET."),
    ],
    ids=[
        "broker",
        "database",
        "int-not-a-number",
        "int-below-minimum",
        "bool",
        "choice",
        "s3-without-bucket",
    ],
)
def test_check_reports_a_bad_value_with_its_stable_id(tmp_path, variables, expected):
    result = manage_check(tmp_path, **variables)
    assert result.returncode != 0
    assert expected in output(result), output(result)
    (variable,) = variables
    hint = "Set PYQ_S3_BUCKET." if variable == "PYQ_STORAGE" else f"Fix or unset {variable}."
    assert f"HINT: {hint}" in output(result)


def test_check_reports_every_bad_value_at_once(tmp_path):
    result = manage_check(
        tmp_path, PYQ_DEBUG="maybe", PYQ_BROKER_URL="bogus://x", DATABASE_URL="nonsense"
    )
    assert result.returncode != 0
    text = output(result)
    for check_id in ("(pyq.E001) PYQ_DEBUG", "(pyq.E002)", "(pyq.E003)"):
        assert check_id in text, text


@pytest.mark.parametrize(
    "variables",
    [
        {"DATABASE_URL": "postgres://pyq@db.example:5432/pyq"},
        {"PYQ_BROKER_URL": "redis://localhost:6379/0"},
        {"PYQ_DEBUG": "true", "PYQ_MAX_UPLOAD_MB": "100"},
    ],
    ids=["postgres", "redis", "debug-and-int"],
)
def test_check_accepts_good_values(tmp_path, variables):
    result = manage_check(tmp_path, **variables)
    assert result.returncode == 0, output(result)
    assert "pyq.E" not in output(result)


# --- env helpers ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def errors(monkeypatch) -> list[ConfigError]:
    """A fresh CONFIG_ERRORS list for each test, and none of the variables used set."""
    fresh: list[ConfigError] = []
    monkeypatch.setattr(env, "CONFIG_ERRORS", fresh)
    for name in ("PYQ_T", "PYQ_T_FILE"):
        monkeypatch.delenv(name, raising=False)
    return fresh


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "On", " true "])
def test_env_bool_true(monkeypatch, errors, raw):
    monkeypatch.setenv("PYQ_T", raw)
    assert env.env_bool("PYQ_T", False) is True
    assert errors == []


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "OFF", ""])
def test_env_bool_false(monkeypatch, errors, raw):
    monkeypatch.setenv("PYQ_T", raw)
    assert env.env_bool("PYQ_T", True) is False
    assert errors == []


def test_env_bool_unset_is_the_default(errors):
    assert env.env_bool("PYQ_T", True) is True
    assert env.env_bool("PYQ_T", False) is False
    assert errors == []


def test_env_bool_garbage_is_an_error_and_the_default(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", "maybe")
    assert env.env_bool("PYQ_T", True) is True
    assert errors == [
        ConfigError("pyq.E001", "PYQ_T", "PYQ_T='maybe' is not a boolean; use true or false.")
    ]


def test_env_int_reads_a_number(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", " 42 ")
    assert env.env_int("PYQ_T", 7) == 42
    assert errors == []


@pytest.mark.parametrize("raw", [None, ""])
def test_env_int_unset_or_empty_is_the_default(monkeypatch, errors, raw):
    if raw is not None:
        monkeypatch.setenv("PYQ_T", raw)
    assert env.env_int("PYQ_T", 7, minimum=1) == 7
    assert errors == []


def test_env_int_not_a_number_is_an_error_and_the_default(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", "abc")
    assert env.env_int("PYQ_T", 7) == 7
    assert errors == [ConfigError("pyq.E001", "PYQ_T", "PYQ_T='abc' is not a whole number.")]


def test_env_int_below_minimum_is_an_error_and_the_default(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", "9")
    assert env.env_int("PYQ_T", 300, minimum=72) == 300
    assert errors == [ConfigError("pyq.E001", "PYQ_T", "PYQ_T=9 must be at least 72.")]


def test_env_int_at_minimum_is_accepted(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", "0")
    assert env.env_int("PYQ_T", 5, minimum=0) == 0
    monkeypatch.setenv("PYQ_T", "-3")
    assert env.env_int("PYQ_T", 5) == -3
    assert errors == []


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", " a.example , b.example,, c ")
    assert env.env_list("PYQ_T", ["x"]) == ["a.example", "b.example", "c"]
    assert errors == []


def test_env_list_unset_is_a_copy_of_the_default(errors):
    default = ["localhost"]
    value = env.env_list("PYQ_T", default)
    assert value == ["localhost"]
    value.append("mutated")
    assert default == ["localhost"]
    assert errors == []


def test_env_choice_accepts_a_listed_value(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", "s3")
    assert env.env_choice("PYQ_T", "filesystem", ("filesystem", "s3")) == "s3"
    assert errors == []


@pytest.mark.parametrize("raw", [None, ""])
def test_env_choice_unset_or_empty_is_the_default(monkeypatch, errors, raw):
    if raw is not None:
        monkeypatch.setenv("PYQ_T", raw)
    assert env.env_choice("PYQ_T", "filesystem", ("filesystem", "s3")) == "filesystem"
    assert errors == []


def test_env_choice_unknown_value_is_an_error_and_the_default(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", "ftp")
    assert env.env_choice("PYQ_T", "filesystem", ("filesystem", "s3")) == "filesystem"
    assert errors == [
        ConfigError("pyq.E001", "PYQ_T", "PYQ_T='ftp' is not one of: filesystem, s3.")
    ]


def test_env_secret_reads_the_variable(monkeypatch, errors):
    monkeypatch.setenv("PYQ_T", "plain-secret")
    assert env.env_secret("PYQ_T", "default") == "plain-secret"
    assert errors == []


def test_env_secret_unset_is_the_default(errors):
    assert env.env_secret("PYQ_T", "default") == "default"
    assert errors == []


def test_env_secret_reads_name_file_before_name(monkeypatch, errors, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("from-file-secret\n")
    monkeypatch.setenv("PYQ_T", "from-variable")
    monkeypatch.setenv("PYQ_T_FILE", str(secret))
    assert env.env_secret("PYQ_T", "default") == "from-file-secret"
    assert errors == []


def test_env_secret_missing_file_is_an_error_and_the_default(monkeypatch, errors, tmp_path):
    missing = tmp_path / "nowhere.txt"
    monkeypatch.setenv("PYQ_T", "from-variable")
    monkeypatch.setenv("PYQ_T_FILE", str(missing))
    assert env.env_secret("PYQ_T", "default") == "default"
    assert errors == [
        ConfigError(
            "pyq.E001",
            "PYQ_T_FILE",
            f"PYQ_T_FILE={str(missing)!r} cannot be read: No such file or directory.",
        )
    ]


def test_check_reports_an_unreadable_secret_file(tmp_path):
    missing = tmp_path / "nowhere.txt"
    result = manage_check(tmp_path, PYQ_SECRET_KEY_FILE=str(missing))
    assert result.returncode != 0
    assert f"(pyq.E001) PYQ_SECRET_KEY_FILE={str(missing)!r} cannot be read" in output(result)


# --- local_secret_key ----------------------------------------------------------------------------


def test_local_secret_key_is_made_once_private_and_reused(tmp_path):
    path = tmp_path / "secret-key"
    first = env.local_secret_key(path)
    assert len(first) >= 50
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = env.local_secret_key(path)
    assert second == first
    assert path.read_text() == first


def test_local_secret_key_keys_differ_between_data_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert env.local_secret_key(tmp_path / "a" / "k") != env.local_secret_key(tmp_path / "b" / "k")


def test_local_secret_key_reads_an_existing_key(tmp_path):
    path = tmp_path / "secret-key"
    path.write_text("kept-key\n")
    assert env.local_secret_key(path) == "kept-key"
    assert path.read_text() == "kept-key\n"


def test_env_list_set_but_empty_is_the_default(monkeypatch):
    monkeypatch.setenv("PYQ_TEST_LIST", "")
    assert env.env_list("PYQ_TEST_LIST", ["127.0.0.1"]) == ["127.0.0.1"]
