"""allauth's adapter, with Pyq's rule for the client address (pyq_site/client_ip.py).

allauth keys its login rate limits on this address, so behind proxies each client gets its
own counters instead of all sharing the proxy's.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from pyq_site.client_ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        address = client_ip(request)
        if not address:
            raise PermissionDenied("Unable to determine the client's address.")
        return address
