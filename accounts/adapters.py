from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Pyq's allauth adapter: emails are stored lower-case so logins match whatever the case."""

    def clean_email(self, email: str) -> str:
        return super().clean_email(email).lower()
