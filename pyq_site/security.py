"""Response headers Django has no setting for, and the data folder kept to Pyq's own user.

``ContentSecurityPolicyMiddleware`` sets a Content-Security-Policy that allows scripts,
styles and frames from Pyq's own origin only: no inline scripts, no event handler
attributes, no inline styles (pages keep their scripts in static/js and their styles in
static/css; htmx's injected indicator style is turned off in base.html). It also sets
Cross-Origin-Opener-Policy and Referrer-Policy where Django's SecurityMiddleware did not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:  # settings import this module: nothing more of Django at import time
    from django.http import HttpRequest, HttpResponse

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "PYQ_CONTENT_SECURITY_POLICY", DEFAULT_CSP)
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


def keep_private(*folders: Path, files: tuple[Path, ...] = ()) -> None:
    """Files and folders this process makes are its user's only (umask 077), and the data
    folders (0700) and files (0600) that exist already are made so.

    Called once from settings: uploads, the SQLite database and its journal, the broker's
    queue and the secret key are never readable by another user of the machine."""
    os.umask(0o077)
    for folder in folders:
        _chmod(folder, 0o700)
    for file in files:
        _chmod(file, 0o600)


def _chmod(path: Path, mode: int) -> None:
    try:
        if path.exists() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError:  # owned by another user (a shared mount): leave it to the operator
        pass
