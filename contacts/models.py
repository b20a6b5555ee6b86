import uuid

from django.conf import settings
from django.db import models
from django.db.models.expressions import Col
from django.db.models.functions import Lower
from django.db.models.lookups import Exact, In

from contacts import generations


class ConsentSource(models.TextChoices):
    """Where a contact's consent state last came from."""

    WIDGET = "widget", "Parley('consent') on the site"
    TCF = "tcf", "IAB TCF consent platform"
    CONSENT_MODE = "consent_mode", "Google Consent Mode"
    TEAMMATE = "teammate", "Teammate"
    REQUEST = "request", "Data subject request"


def _ids_named(rows: models.QuerySet) -> list[int] | None:
    """The ids a queryset's filter limits it to (`pk=`, `pk__in=` a list, ANDed with anything), else None."""
    where = rows.query.where
    if where.connector != "AND" or where.negated or len(rows.query.alias_map) > 1:
        return None  # (a join: a primary key in the filter may be another table's)
    for child in where.children:
        if not isinstance(child, Exact | In) or not isinstance(child.lhs, Col) or not child.lhs.target.primary_key:
            continue
        if isinstance(child, Exact) and isinstance(child.rhs, int):
            return [child.rhs]
        named = isinstance(child, In) and isinstance(child.rhs, list | tuple | set | frozenset)
        if named and all(isinstance(pk, int) for pk in child.rhs):
            return list(child.rhs)
    return None


class ContactQuerySet(models.QuerySet):
    """Writes that tell the contacts' generations (contacts.generations): a cached copy of a row must never
    outlive a change of what it holds."""

    def update(self, **kwargs):
        count = super().update(**kwargs)
        if count and not generations.WATCHED_FIELDS.isdisjoint(kwargs):
            _changed(self)
        return count

    def bulk_update(self, objs, fields, batch_size=None):
        objs = list(objs)
        count = super().bulk_update(objs, fields, batch_size=batch_size)
        if count and not generations.WATCHED_FIELDS.isdisjoint(fields):
            generations.contacts_changed([contact.pk for contact in objs], using=self.db)
        return count

    def delete(self):
        ids = _ids_named(self)
        deleted = super().delete()
        _changed(self, ids)
        return deleted


def _changed(rows: models.QuerySet, ids: list[int] | None = None) -> None:
    ids = _ids_named(rows) if ids is None else ids
    if ids is None:
        generations.all_contacts_changed(using=rows.db)
    else:
        generations.contacts_changed(ids, using=rows.db)


class Contact(models.Model):
    """A person: anonymous visitor, lead (wrote to us) or user (known to the site)."""

    class Role(models.TextChoices):
        VISITOR = "visitor", "Visitor"
        LEAD = "lead", "Lead"
        USER = "user", "User"

    role = models.CharField(max_length=8, choices=Role.choices, default=Role.VISITOR)
    external_id = models.CharField("user id", max_length=255, null=True, blank=True, unique=True)
    anonymous_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The website whose widget created this visitor or lead (tracking.Website's id; no foreign key, since
    # contacts depend on no other app): its anonymous_id is honoured on that website only. Empty for
    # contacts created elsewhere (admin, API, email) and for rows older than the field (derived then).
    first_website_id = models.BigIntegerField(null=True, blank=True, editable=False)
    # Identity
    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    # When the email was last shown to be this contact's: set by a teammate or the API, or by mail from the address
    # itself; empty for an address the messenger gave (typed by a visitor, or sent unsigned beside a signed user_id).
    # Mail to the support address joins a user only by a shown address (contacts.selectors.contact_for_inbound_email).
    email_verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    phone = models.CharField(max_length=64, blank=True)
    avatar = models.URLField(max_length=500, blank=True)
    # Set when a website that enforces identity verification signed this person in with a valid
    # user_hash: from then on no website may identify them without one.
    identity_verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_contacts"
    )
    # Activity
    signed_up_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    web_sessions_count = models.PositiveIntegerField("web sessions", default=0)
    # Location and device (derived at request time; the IP itself is never stored)
    city = models.CharField(max_length=128, blank=True)
    country = models.CharField("country code", max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    country_name = models.CharField(max_length=128, blank=True)
    os = models.CharField("OS", max_length=64, blank=True)
    browser = models.CharField(max_length=64, blank=True)
    browser_version = models.CharField(max_length=32, blank=True)
    browser_language = models.CharField(max_length=35, blank=True)
    language_override = models.CharField(max_length=35, blank=True)
    # Messaging
    last_contacted_at = models.DateTimeField(null=True, blank=True)
    last_replied_at = models.DateTimeField("last heard from", null=True, blank=True)
    last_email_opened_at = models.DateTimeField(null=True, blank=True)
    last_email_clicked_at = models.DateTimeField("last clicked link in email", null=True, blank=True)
    unsubscribed_from_emails = models.BooleanField(default=False)
    # Consent by purpose (docs/privacy.md): None = no choice made, the website's default applies.
    # Support (chat, identity) is functional and needs no consent.
    analytics_consent = models.BooleanField(
        null=True, blank=True, help_text="Page views, sessions and events. Empty: the website's default applies."
    )
    marketing_consent = models.BooleanField(
        null=True,
        blank=True,
        help_text="Email open and click tracking, in-app campaigns. Empty: the website's marketing basis applies.",
    )
    consent_source = models.CharField(max_length=16, choices=ConsentSource.choices, blank=True, editable=False)
    consent_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # GDPR Art. 18 restriction: nothing is tracked and nothing is sent; the chat keeps working.
    processing_restricted = models.BooleanField(
        default=False, help_text="Restriction of processing: no tracking, no outbound messages; chat only."
    )
    # The last verified sign-in on a verifying website: the widget tokens issued before it without one stop working
    # (tracking.widget_auth). Kept here, not only in the cache, so that a cache that lost it does not revive them.
    widget_tokens_revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    custom_attributes = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField("Tag", through="ContactTag", related_name="contacts", blank=True)
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        base_manager_name = "objects"  # its writes renew generations too
        ordering = ["-last_seen_at", "-id"]
        # Taking contacts' personal data out in bulk (the list's CSV and GDPR exports): not a reader's right
        # (contacts/permissions.py gives it to agents, not viewers).
        permissions = [("export_contact", "Can export contacts' data (CSV, GDPR JSON)")]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=models.Q(role="user") & ~models.Q(email=""),
                name="contact_user_email_unique_ci",
                violation_error_message="A user with this email already exists.",
            ),
        ]
        indexes = [
            # The retention query and the role filter + "last seen" ordering of the changelist.
            # The admin always orders by (last_seen_at, id): the id tiebreaker must be in the index
            # or PostgreSQL sorts every matching row.
            models.Index(fields=["role", "-last_seen_at", "-id"], name="contact_role_seen_id"),
            models.Index(fields=["-last_seen_at", "-id"], name="contact_last_seen_desc"),
            models.Index(Lower("email"), name="contact_email_ci"),
            models.Index(fields=["country", "-last_seen_at", "-id"], name="contact_country_seen_id"),
            models.Index(fields=["unsubscribed_from_emails"], name="contact_unsubscribed"),
            models.Index(fields=["created_at"], name="contact_created"),
            models.Index(fields=["updated_at"], name="contact_updated"),
            models.Index(fields=["signed_up_at"], name="contact_signed_up"),
            models.Index(Lower("name"), name="contact_name_ci"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.external_id or f"{self.get_role_display()} {self.pk}"

    def save(self, *args, **kwargs):
        # A row may exist under a pk set by hand on a new instance too: only a forced insert writes none.
        may_exist = (not self._state.adding or self.pk is not None) and not kwargs.get("force_insert")
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        if may_exist and (update_fields is None or not generations.WATCHED_FIELDS.isdisjoint(update_fields)):
            generations.contacts_changed([self.pk], using=self._state.db)

    def delete(self, *args, **kwargs):
        pk, using = self.pk, self._state.db
        deleted = super().delete(*args, **kwargs)
        generations.contacts_changed([pk], using=using)  # after the DELETE, even outside a transaction
        return deleted

    @property
    def language(self) -> str:
        """Language override wins over the browser language (standard fields 17 and 19)."""
        return self.language_override or self.browser_language


class Tag(models.Model):
    name = models.CharField(max_length=255)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class ContactTag(models.Model):
    """Who tagged a contact, and when."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="contact_links")
    tagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    tagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="contact_tag_unique")]
        indexes = [models.Index(fields=["tag", "contact"], name="contacttag_tag_contact")]

    def __str__(self) -> str:
        # The tag's name: the contact page's tag rows and its history ("Added tag “vip”") read as words.
        return str(self.tag)


class DataAttribute(models.Model):
    """Definition of a custom attribute: its type decides validation and the admin form field."""

    class Model(models.TextChoices):
        CONTACT = "contact", "Contact"
        CONVERSATION = "conversation", "Conversation"
        COMPANY = "company", "Company"

    class DataType(models.TextChoices):
        STRING = "string", "Text"
        INTEGER = "integer", "Integer"
        FLOAT = "float", "Decimal number"
        BOOLEAN = "boolean", "True or false"
        DATE = "date", "Date"
        DATETIME = "datetime", "Date and time"

    model = models.CharField(max_length=16, choices=Model.choices, default=Model.CONTACT)
    name = models.CharField(max_length=190)
    label = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    data_type = models.CharField(max_length=16, choices=DataType.choices, default=DataType.STRING)
    options = models.JSONField(default=list, blank=True, help_text="Allowed values; empty means any value.")
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model", "name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="data_attribute_unique_name")]

    def __str__(self) -> str:
        return self.label or self.name


class PrivacyAuditEntry(models.Model):
    """Who erased, exported, restricted (or lifted a restriction on) which contact id, or recorded its
    objection to marketing, and when; never the erased person's data."""

    class Action(models.TextChoices):
        ERASE = "erase", "Erase"
        EXPORT = "export", "Export"
        RESTRICT = "restrict", "Restrict processing"
        LIFT = "lift", "Lift restriction"
        OBJECT = "object", "Objection to marketing"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "REST API"
        COMMAND = "command", "Management command"
        RETENTION = "retention", "Retention"

    action = models.CharField(max_length=8, choices=Action.choices)
    source = models.CharField(max_length=12, choices=Source.choices)
    contact_id = models.BigIntegerField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "privacy audit entries"

    def __str__(self) -> str:
        return f"{self.get_action_display()} contact {self.contact_id}"


class ContactNote(models.Model):
    """A teammate's internal note on a contact (Intercom's contact notes)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "-created_at"], name="contactnote_contact_created")]

    def __str__(self) -> str:
        return f"Note {self.pk} on {self.contact_id}"
