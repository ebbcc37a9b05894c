from django import forms

from accounts.models import Organization


class SignupExtraForm(forms.Form):
    """Extra sign-up fields; allauth calls signup() once the user exists."""

    organization = forms.CharField(
        label="Organization name",
        max_length=120,
        required=False,
        help_text="Your company or team. You can change it later.",
        widget=forms.TextInput(attrs={"placeholder": "Acme Ltd", "autocomplete": "organization"}),
    )

    def signup(self, request, user) -> None:
        name = self.cleaned_data.get("organization", "").strip()
        if not name:
            name = f"{user.email.split('@')[0]}'s workspace"
        org = Organization.create_for(user, name)
        request.session["pyq_org_id"] = org.pk


class ApiKeyForm(forms.Form):
    # Leading and trailing spaces are stripped; a blank name is "required".
    name = forms.CharField(
        label="Key name",
        max_length=100,
        help_text="What will use it, so you know which key to revoke later.",
    )
