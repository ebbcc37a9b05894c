"""Typed readers for PYQ_* environment variables.

A wrong value never crashes the import of settings: it is recorded in ``CONFIG_ERRORS``
and the default is used, so that Django's system check framework can report every problem
at once with a stable id (see pyq_site/checks.py).
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigError:
    id: str
    variable: str
    message: str


CONFIG_ERRORS: list[ConfigError] = []

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def _fail(name: str, message: str, check_id: str = "pyq.E001") -> None:
    CONFIG_ERRORS.append(ConfigError(check_id, name, message))


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    _fail(name, f"{name}={value!r} is not a boolean; use true or false.")
    return default


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        _fail(name, f"{name}={value!r} is not a whole number.")
        return default
    if minimum is not None and number < minimum:
        _fail(name, f"{name}={number} must be at least {minimum}.")
        return default
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        _fail(name, f"{name}={value!r} is not a number.")
        return default
    if number != number or number in (float("inf"), float("-inf")):
        _fail(name, f"{name}={value!r} is not a number.")
        return default
    if minimum is not None and number < minimum:
        _fail(name, f"{name}={number:g} must be at least {minimum:g}.")
        return default
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if not value:  # unset or empty (a blank line in an .env file) means the default
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        _fail(name, f"{name}={value!r} is not one of: {', '.join(choices)}.")
        return default
    return value


_RATE = re.compile(r"([0-9]+)\s*/\s*(second|minute|hour|day|s|m|h|d)")
_RATE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate(value: str) -> tuple[int, int] | None:
    """The rate "120/minute" as (120, 60); None for "0" or "off"; ValueError otherwise."""
    value = value.strip().lower()
    if value in {"0", "off"}:
        return None
    match = _RATE.fullmatch(value)
    if match is None or int(match[1]) < 1:
        raise ValueError(value)
    return int(match[1]), _RATE_SECONDS[match[2][0]]


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A rate such as "120/minute" as (requests, seconds); "0" or "off" means no limit."""
    try:
        return _rate(env_str(name, default))
    except ValueError:
        _fail(name, f"{name}={_raw(name)!r} is not a rate; use e.g. 120/minute, or off.")
        return _rate(default)


def env_secret(name: str, default: str = "") -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (for Docker/K8s secrets)."""
    path = _raw(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            _fail(f"{name}_FILE", f"{name}_FILE={path!r} cannot be read: {exc.strerror}.")
            return default
    return env_str(name, default)


def local_secret_key(path: Path) -> str:
    """A random key made once and kept in the data folder: the embedded default for one
    machine. Several machines must share PYQ_SECRET_KEY instead.

    The key is written whole to a temporary file (0600) and linked into place, which fails
    when another process did so first: processes starting together all read one key, never
    an empty or half-written file."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    fd, temporary = tempfile.mkstemp(prefix=".secret-key-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)  # atomic, and never replaces a key made meanwhile
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError:  # a filesystem without hard links: create it exclusively
            _write_exclusively(path, key)
    finally:
        os.unlink(temporary)
    return path.read_text().strip()


def _write_exclusively(path: Path, key: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
