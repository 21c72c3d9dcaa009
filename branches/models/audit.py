from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models.organizations import Organization


def audit_organization_id(instance):
    """The organization a record belongs to, so its history can be scoped by the tree.

    Models say it with `audit_organization_id()`; otherwise an `organization` foreign key is used.
    """
    method = getattr(instance, "audit_organization_id", None)
    if callable(method):
        return method()
    if isinstance(instance, Organization):
        return instance.pk
    return getattr(instance, "organization_id", None)


ACTION_LABELS = {
    AbstractLogEntry.Action.CREATE: _("created"),
    AbstractLogEntry.Action.UPDATE: _("changed"),
    AbstractLogEntry.Action.DELETE: _("deleted"),
    AbstractLogEntry.Action.ACCESS: _("accessed"),
}


class AuditEntryManager(LogEntryManager):
    def log_create(self, instance, force_log=False, **kwargs):
        kwargs.setdefault("organization_id", audit_organization_id(instance))
        return super().log_create(instance, force_log=force_log, **kwargs)


class AuditEntry(AbstractLogEntry):
    """One change on record: who, when, from where, which object, from which value to which.

    Append-only: entries are never edited; only the retention rule removes old ones.
    """

    organization = models.ForeignKey(
        Organization,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # the trail outlives anything it mentions
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organization"),
    )
    actor_label = models.CharField(
        _("acting job"), max_length=80, blank=True, help_text=_("Set when a job, not a person, made the change.")
    )

    objects = AuditEntryManager()

    class Meta(AbstractLogEntry.Meta):
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            models.Index(fields=["organization", "timestamp"]),
            models.Index(fields=["content_type", "object_pk"]),
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Audit entries are append-only.")
        return super().save(*args, **kwargs)

    def __str__(self):
        # auditlog's own ("Created …") has no Chinese; the admin shows this in titles and breadcrumbs.
        return f"{self.action_label} {self.object_repr}"

    @property
    def who(self):
        if self.actor_id:
            return self.actor.get_full_name() or self.actor.get_username()
        if self.actor_label.startswith("job:"):
            return _("job %(name)s") % {"name": self.actor_label[4:]}
        return self.actor_label or _("system")

    @property
    def action_label(self):
        return ACTION_LABELS.get(self.action, "")


class SecurityEventKind(models.TextChoices):
    CSRF = "csrf", _("Forged or missing CSRF token")
    OUT_OF_SCOPE = "out_of_scope", _("Record outside the user's scope requested")
    UPLOAD_REFUSED = "upload_refused", _("Upload refused")
    MARKUP_REFUSED = "markup_refused", _("HTML or script in a text field refused")
    LOCKED_OUT = "locked_out", _("Sign-in locked after repeated failures")
    TARGETED_NAME = "targeted_name", _("A user name guessed at from several addresses")


class SecurityEvent(models.Model):
    """A refused attempt: what was tried, by whom, from where. Append-only, like the audit trail."""

    kind = models.CharField(_("kind"), max_length=20, choices=SecurityEventKind.choices)
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    username = models.CharField(_("user name given"), max_length=150, blank=True)
    remote_addr = models.GenericIPAddressField(_("address"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    path = models.CharField(_("path"), max_length=300, blank=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organization concerned"),
    )
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security events")
        ordering = ["-at"]
        indexes = [models.Index(fields=["organization", "at"])]

    def __str__(self):
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"
