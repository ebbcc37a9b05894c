from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.middleware import SESSION_KEY
from accounts.models import Membership, Organization


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
