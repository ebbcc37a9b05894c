"""The Django admin's login goes through the site login's rate limits and lockout.

The admin is off unless PYQ_ADMIN_ENABLED is set (pyq_site/urls.py). When it is on, its login
form authenticates through allauth's adapter, which counts failed attempts per address and per
email ("login_failed" in ACCOUNT_RATE_LIMITS) in the shared cache: the admin and the site login
share one count, so neither page offers a way around the other's lockout. Every login POST also
counts against allauth's "login" limit per address, answered with a 429 like the site's.
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.core import ratelimit
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm


class RateLimitedAdminLoginForm(AdminAuthenticationForm):
    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            # Raises "Too many failed login attempts" past the limit, before any password check.
            self.user_cache = get_adapter(self.request).authenticate(
                self.request, email=email, password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


_admin_login = admin.site.login


def rate_limited_login(request, extra_context=None):
    if (refused := ratelimit.consume_or_429(request, action="login")) is not None:
        return refused
    return _admin_login(request, extra_context)


admin.site.login_form = RateLimitedAdminLoginForm
admin.site.login = rate_limited_login
