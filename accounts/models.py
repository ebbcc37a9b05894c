from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in with an email address; belongs to organizations via Membership."""

    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# What each role may do; views ask through Membership.can().
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset({"view", "write", "manage_members", "manage_billing", "delete_org"}),
    Role.ADMIN: frozenset({"view", "write", "manage_members"}),
    Role.MEMBER: frozenset({"view", "write"}),
    Role.VIEWER: frozenset({"view"}),
}


class Organization(models.Model):
    """A workspace: every row it owns carries a foreign key to it."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )

    def __str__(self) -> str:
        return self.name

    @classmethod
    @transaction.atomic
    def create_for(cls, owner: User, name: str) -> Organization:
        """Create an organization with `owner` as its owner, with a unique slug."""
        base = slugify(name)[:50] or "workspace"
        slug, n = base, 1
        while cls.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        org = cls.objects.create(name=name, slug=slug)
        Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
        return org


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


API_KEY_PREFIX = "pyq_"
API_KEY_LOOKUP_LENGTH = 8  # characters after "pyq_" kept in clear to find the row
API_KEY_PERMISSIONS = frozenset({"view", "write"})
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def hash_api_key(raw: str) -> str:
    # The key carries 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A secret that lets a program act in one organization through the REST API.

    Only a hash of the key is stored; the key itself is shown once, when it is issued.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=API_KEY_LOOKUP_LENGTH, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        """What people see of the key: enough to recognise it, too little to use it."""
        return f"{API_KEY_PREFIX}{self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def can(self, permission: str) -> bool:
        # Keys are made by owners and admins for programs that read and add documents.
        return permission in API_KEY_PERMISSIONS

    @classmethod
    def issue(cls, org: Organization, user: User | None, name: str) -> tuple[ApiKey, str]:
        """Create a key; the plain key is returned here and never again."""
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            organization=org,
            name=name,
            prefix=raw[len(API_KEY_PREFIX) : len(API_KEY_PREFIX) + API_KEY_LOOKUP_LENGTH],
            key_hash=hash_api_key(raw),
            created_by=user,
        )
        return key, raw

    @classmethod
    def authenticate(cls, raw: str | None) -> ApiKey | None:
        """The active key `raw` is, or None; records when it was last used (once a minute)."""
        if not raw or not raw.startswith(API_KEY_PREFIX) or len(raw) > 100:
            return None
        prefix = raw[len(API_KEY_PREFIX) : len(API_KEY_PREFIX) + API_KEY_LOOKUP_LENGTH]
        if len(prefix) != API_KEY_LOOKUP_LENGTH:
            return None
        digest = hash_api_key(raw)
        candidates = cls.objects.filter(prefix=prefix).select_related("organization")
        found = next((k for k in candidates if hmac.compare_digest(k.key_hash, digest)), None)
        if found is None or not found.is_active:
            return None
        found.touch()
        return found

    def touch(self) -> None:
        """Set last_used_at, writing at most once a minute per key."""
        now = timezone.now()
        if self.last_used_at and self.last_used_at >= now - API_KEY_TOUCH_INTERVAL:
            return  # recent enough: no write
        stale = models.Q(last_used_at__isnull=True) | models.Q(
            last_used_at__lt=now - API_KEY_TOUCH_INTERVAL
        )
        if ApiKey.objects.filter(stale, pk=self.pk).update(last_used_at=now):
            self.last_used_at = now

    def revoke(self) -> bool:
        """Revoke the key for good; False when it already was."""
        now = timezone.now()
        if not ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now):
            self.refresh_from_db(fields=["revoked_at"])
            return False
        self.revoked_at = now
        return True
