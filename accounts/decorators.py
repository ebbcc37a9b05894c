from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect


def org_member(permission: str = "view") -> Callable:
    """Require a logged-in member of the current organization whose role allows `permission`."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.membership:
                return redirect("accounts:no_organization")
            if not request.membership.can(permission):
                raise PermissionDenied("Your role in this organization cannot do this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
