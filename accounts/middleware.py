from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from accounts.models import Membership

SESSION_KEY = "pyq_org_id"


def _membership(request) -> Membership | None:
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("organization").filter(user=user)
    chosen = request.session.get(SESSION_KEY)
    if chosen is not None:
        found = memberships.filter(organization_id=chosen).first()
        if found:
            return found
    found = memberships.order_by("created_at", "pk").first()
    if found:
        request.session[SESSION_KEY] = found.organization_id
    return found


class OrganizationMiddleware:
    """Sets request.membership and request.org: the organization the user works in now."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: _membership(request))
        request.org = SimpleLazyObject(
            lambda: request.membership.organization if request.membership else None
        )
        return self.get_response(request)
