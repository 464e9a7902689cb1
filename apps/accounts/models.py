import hashlib
import hmac
import secrets

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin"
    MASTER = "master"
    TECHNICIAN = "technician"
    QC_INSPECTOR = "qc_inspector", "QC inspector"


class User(AbstractUser):
    roles = ArrayField(models.CharField(max_length=20, choices=Role.choices), default=list, blank=True)
    is_service = models.BooleanField(
        default=False, help_text="An upstream system that may act on behalf of other users (actor_id)."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="user_roles_known",
                condition=models.Q(roles__contained_by=[role.value for role in Role]),
            ),
        ]

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    def grant_roles(self, roles: list[str], *, service: bool = False) -> None:
        """Add roles (none is taken away). The admin role is the shop's operator: it gets the whole Django admin
        (review queue, commands, rules, users and tokens), which is what `is_staff` plus `is_superuser` means."""
        self.roles = sorted(set(self.roles) | set(roles))
        self.is_service = self.is_service or service
        if Role.ADMIN in self.roles:
            self.is_staff = self.is_superuser = True


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the raw value is shown once, at issue."""

    PREFIX = "tf_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="first characters, to tell tokens apart")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.hint}… ({self.user})"

    @classmethod
    def issue(cls, user: User) -> tuple["ApiToken", str]:
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, token_hash=hash_token(raw), hint=raw[:10])
        return token, raw

    @classmethod
    def authenticate(cls, raw: str) -> User | None:
        if not raw or len(raw) > 200:
            return None
        digest = hash_token(raw)
        token = cls.objects.active().select_related("user").filter(token_hash=digest).first()
        # The lookup is by an index on the hash; the comparison guards against a timing side channel anyway.
        if token is None or not hmac.compare_digest(token.token_hash, digest) or not token.user.is_active:
            return None
        return token.user


SYSTEM_USERNAME = "ticketflow-system"


def system_user() -> User:
    """The submitter of scheduled system commands (auto-resume). It has no roles and no tokens."""
    user, _ = User.objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_service": True, "roles": [], "password": "!"}
    )
    return user
