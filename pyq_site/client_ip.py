"""The address of the client that sent a request, the one rule Pyq uses everywhere.

Behind reverse proxies, REMOTE_ADDR is the nearest proxy's address: every user would share it,
and one user's failed logins would lock out everyone. Each trusted proxy appends the address it
received the request from to X-Forwarded-For, so with PYQ_TRUSTED_PROXY_COUNT = N the client is
the Nth address from the right. Whatever the client itself put in the header lies further left
and is never read, so it cannot choose its own address.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> str | None:
    """The normalised IP address in `value` (brackets and an IPv4 port allowed), or None."""
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 203.0.113.9:443
        value = value.partition(":")[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def forwarded_address(forwarded_for: str, trusted_proxies: int) -> str | None:
    """The address the outermost trusted proxy saw, from an X-Forwarded-For value.

    With fewer entries than trusted proxies the request skipped the outer ones, and every
    entry there was written by a proxy of ours: the leftmost is the client.
    """
    entries = [part for part in forwarded_for.split(",") if part.strip()]
    if trusted_proxies < 1 or not entries:
        return None
    chosen = entries[-trusted_proxies] if len(entries) >= trusted_proxies else entries[0]
    return _address(chosen)


def client_ip(request: HttpRequest) -> str:
    """The client's IP address; "" when the request carries none at all."""
    trusted = settings.PYQ_TRUSTED_PROXY_COUNT
    if trusted:
        forwarded = forwarded_address(request.META.get("HTTP_X_FORWARDED_FOR", ""), trusted)
        if forwarded:
            return forwarded
    return _address(request.META.get("REMOTE_ADDR", "")) or ""
