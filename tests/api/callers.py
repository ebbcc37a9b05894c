"""API callers: a client that sends an organization's API key on every request."""

from __future__ import annotations

from dataclasses import dataclass

from django.test import Client

from accounts.models import ApiKey


@dataclass
class ApiCaller:
    key: ApiKey
    raw: str
    client: Client

    def _headers(self, headers: dict | None) -> dict:
        return {"Authorization": f"Bearer {self.raw}", **(headers or {})}

    def get(self, path: str, data=None, headers: dict | None = None, **kwargs):
        return self.client.get(path, data, headers=self._headers(headers), **kwargs)

    def post(self, path: str, data=None, headers: dict | None = None, **kwargs):
        return self.client.post(path, data or {}, headers=self._headers(headers), **kwargs)

    def generic(self, method: str, path: str, headers: dict | None = None):
        return self.client.generic(method, path, headers=self._headers(headers))


def caller_for(persona) -> ApiCaller:
    # A fresh client with no session: the key alone authenticates.
    key, raw = ApiKey.issue(persona.org, persona.user, "Test integration")
    return ApiCaller(key, raw, Client())
