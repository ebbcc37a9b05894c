"""A safe base name for an untrusted file name."""

from __future__ import annotations

import os
import re
import unicodedata

_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_UNSAFE_CHARS = re.compile(r'[<>:"|?*]')
_MAX_NAME = 150
_MAX_EXTENSION = 16


def safe_filename(name: str, default: str = "document") -> str:
    """Reduce an untrusted file name to a safe base name (no directories, at most 150 chars).

    Strips directory parts (``/`` and ``\\``), control and invisible formatting
    characters (e.g. right-to-left overrides), characters Windows forbids, leading dots
    and trailing dots/spaces. Falls back to ``default`` when nothing usable remains.
    """
    name = unicodedata.normalize("NFC", name or "")
    parts = [p for p in re.split(r"[/\\]", name) if p.strip()]
    name = parts[-1] if parts else ""
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = _UNSAFE_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip()
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        name = default.strip(". ") or "document"
    stem, ext = os.path.splitext(name)
    if len(ext) > _MAX_EXTENSION or not stem:
        stem, ext = name, ""
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    return stem[: _MAX_NAME - len(ext)].rstrip(". ") + ext
