from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import org_member
from accounts.forms import ApiKeyForm
from accounts.middleware import SESSION_KEY
from accounts.models import ApiKey, Membership, Organization


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=120)


@login_required
def no_organization(request):
    """A user who belongs to no organization (removed from all) can start a new one."""
    if request.membership:
        return redirect("automations:documents")
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        org = Organization.create_for(request.user, form.cleaned_data["name"])
        request.session[SESSION_KEY] = org.pk
        return redirect("automations:documents")
    return render(request, "accounts/no_organization.html", {"form": form})


@login_required
@require_POST
def switch_organization(request, slug: str):
    membership = get_object_or_404(Membership, user=request.user, organization__slug=slug)
    request.session[SESSION_KEY] = membership.organization_id
    return redirect("automations:documents")


@require_http_methods(["GET", "POST"])
@org_member("view")
def api_keys(request):
    """The organization's API keys; owners and admins create them here and see each once."""
    can_manage = request.membership.can("manage_members")
    form = ApiKeyForm()
    new_key = None
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Only owners and admins can create API keys.")
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            _, new_key = ApiKey.issue(request.org, request.user, form.cleaned_data["name"])
            form = ApiKeyForm()
        else:
            status = 400
    keys = ApiKey.objects.filter(organization=request.org).select_related("created_by")
    response = render(
        request,
        "accounts/api_keys.html",
        {"keys": keys, "form": form, "new_key": new_key, "can_manage": can_manage},
        status=status,
    )
    if new_key:
        add_never_cache_headers(response)  # the key must not linger in any cache
    return response


@require_POST
@org_member("manage_members")
def revoke_api_key(request, pk: int):
    key = get_object_or_404(ApiKey, organization=request.org, pk=pk)
    if key.revoke():
        messages.success(request, f"Revoked {key.name}. Programs using it can no longer connect.")
    else:
        messages.info(request, f"{key.name} was already revoked.")
    return redirect("accounts:api_keys")
