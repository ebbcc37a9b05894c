from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Organization, User

DEMO_EMAIL = "demo@pyq.local"
DEMO_PASSWORD = "pyq-demo-password"  # noqa: S105  (a local demo login, printed on purpose)


class Command(BaseCommand):
    help = (
        "Create (once) a demo user with a verified email and an organization, and print the login."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD, name="Demo")
            Organization.create_for(user, "Demo Company")
        EmailAddress.objects.update_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )
        self.stdout.write(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
