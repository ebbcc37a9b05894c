"""One rule for secrets in configuration: which keys hold one, how they are shown, and how a
masked value that comes back from a page keeps the stored secret.

Used wherever configuration leaves the database: a step's recorded input (engine), the run
page and the builder's test results, the builder's data and the workflow history's JSON.
Pure Python, no Django.

A key holds a secret when one of its word parts (split at ``_``, ``-``, ``.``, spaces and
camelCase humps) is one of SECRET_WORDS (``signing_key``, ``apiKey``, ``X-Auth-Token``,
``client_secret``), or when it ends with one of the longer words glued on (``apitoken``,
``dbpassword``). ``keywords``, ``monkey`` or ``max_tokens`` are not secrets: a word part must
match exactly. Strings that carry a password in a URL (``https://user:pw@host``) are masked
wherever they are.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from automations.engine import spec

__all__ = [
    "MASK",
    "MaskedSecretLost",
    "is_masked",
    "is_secret_key",
    "keep_draft_secrets",
    "keep_secrets",
    "mask_secrets",
    "scrub",
    "secret_values",
]

MASK = "********"
SECRET_WORDS = frozenset(
    {
        "secret",
        "secrets",
        "token",
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "key",
        "apikey",
        "authorization",
        "auth",
        "credential",
        "credentials",
        "cookie",
    }
)
# Words that are secrets even when glued to another word without a separator ("apitoken").
_GLUED_SUFFIXES = ("apikey", "token", "secret", "password", "passwd", "passphrase")
_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)([^/\s@]+)@")
MAX_DEPTH = 64  # deeper values are not shown at all (no recursion without end)
_TOO_DEEP = "…"


def _words(name: str) -> list[str]:
    return [w.lower() for w in _SEPARATORS.split(_HUMP.sub("_", name)) if w]


def is_secret_key(name: object) -> bool:
    """Whether a configuration key names a secret (see the module's docstring)."""
    if not isinstance(name, str) or not name:
        return False
    if any(word in SECRET_WORDS for word in _words(name)):
        return True
    compact = re.sub(r"[^a-z0-9]", "", name.lower())
    return compact.endswith(_GLUED_SUFFIXES)


def _has_value(value: Any) -> bool:
    return value not in (None, "", [], {})


def is_masked(value: Any) -> bool:
    return value == MASK


def mask_secrets(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` with every secret replaced by MASK: values of secret keys at any
    depth (an empty one stays empty, so a page can say "not set"), and passwords in URLs."""
    if _depth > MAX_DEPTH:
        return _TOO_DEEP
    if isinstance(value, dict):
        return {
            key: MASK if is_secret_key(key) and _has_value(item) else mask_secrets(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(item, _depth + 1) for item in value]
    if isinstance(value, str) and "@" in value and "://" in value:
        return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + "@", value)
    return value


class MaskedSecretLost(ValueError):
    """A masked value came back where no stored secret can be kept; the message says where."""


def keep_secrets(incoming: Any, stored: Any, where: str = "", _depth: int = 0) -> Any:
    """``incoming`` with each MASK under a secret key replaced by the value ``stored`` has
    at the same place (what a page that showed MASK sends back when nobody changed it).
    Raises MaskedSecretLost when there is no stored value there."""
    if _depth > MAX_DEPTH:
        return incoming
    if isinstance(incoming, dict):
        old = stored if isinstance(stored, dict) else {}
        result = {}
        for key, value in incoming.items():
            path = f"{where}.{key}" if where else str(key)
            if is_masked(value) and is_secret_key(key):
                kept = old.get(key)
                if not _has_value(kept) or is_masked(kept):
                    raise MaskedSecretLost(path)
                result[key] = copy.deepcopy(kept)
            else:
                result[key] = keep_secrets(value, old.get(key), path, _depth + 1)
        return result
    if isinstance(incoming, list):
        old_list = stored if isinstance(stored, list) else []
        return [
            keep_secrets(
                item,
                old_list[i] if i < len(old_list) else None,
                f"{where}.{i}" if where else str(i),
                _depth + 1,
            )
            for i, item in enumerate(incoming)
        ]
    # A URL whose password was masked: the stored URL when only the password was hidden.
    if isinstance(incoming, str) and isinstance(stored, str) and MASK in incoming:
        return stored if mask_secrets(stored) == incoming else incoming
    return incoming


def keep_draft_secrets(steps: list, stored_steps: Any) -> list:
    """A workflow draft from the builder with its masked secrets replaced by the stored
    draft's: each step is matched by its id, else by the step at the same position when it
    is of the same kind. Raises MaskedSecretLost("Step 2 (send): config.secret is hidden
    ...") when a masked secret has nothing to keep (a new step, a step of another kind)."""
    stored = (
        [s for s in stored_steps if isinstance(s, dict)] if isinstance(stored_steps, list) else []
    )
    by_id = {_step_id(s): s for s in stored}
    result = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            result.append(step)
            continue
        match = by_id.get(_step_id(step))
        if match is None and index < len(stored) and stored[index].get("step") == step.get("step"):
            match = stored[index]
        try:
            result.append(keep_secrets(step, match or {}))
        except MaskedSecretLost as exc:
            name = spec.step_id(step) or "?"
            raise MaskedSecretLost(
                f"Step {index + 1} ({name}): {exc} was hidden on the page and there is no saved "
                "value to keep; type it again."
            ) from None
    return result


def _step_id(step: dict) -> Any:
    return spec.step_id(step)


def secret_values(value: Any, _depth: int = 0) -> set[str]:
    """The secrets ``value`` holds (strings under secret keys, at any depth), to scrub them
    from messages that quote a value ("'hunter2…' is too long")."""
    found: set[str] = set()
    if _depth > MAX_DEPTH:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            if is_secret_key(key) and isinstance(item, str) and item:
                found.add(item)
            else:
                found |= secret_values(item, _depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= secret_values(item, _depth + 1)
    return found


def scrub(text: str, secrets: set[str]) -> str:
    """``text`` with every one of ``secrets`` (longest first) replaced by MASK; a secret of
    fewer than 4 characters only where it is quoted, so that it does not eat ordinary words."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
        else:
            text = text.replace(repr(secret), repr(MASK))
    return text
