"""Every folder the settings name exists before a process needs it (issue 10, point 6).

Pyq starts on any configuration from an empty data folder: settings call `make_folders` with
the folders they name (the beat schedule's folder whatever the broker, uploads on local
storage, the SQLite database's folder, a file result backend, the model cache). A folder that
cannot be made is reported by the `pyq.E001` system check with its variable, instead of a
process failing later on a missing folder (beat did, with a Redis broker).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

from pyq_site.env import _fail


def make_folders(folders: Iterable[tuple[str, Path | None]]) -> None:
    """Make each (variable, folder) that is not None, with its parents."""
    for variable, folder in folders:
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(variable, f"{variable}: the folder {folder} cannot be made ({exc.strerror}).")


def file_url_folder(url: str | None) -> Path | None:
    """The folder of a file:// URL (Celery's file result backend), else None."""
    if not url or urlparse(url).scheme != "file":
        return None
    return Path(urlparse(url).path)


def sqlite_folder(name: str) -> Path | None:
    """The folder of an SQLite database file; None for an in-memory database."""
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).parent
