from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from contacts.models import Contact, Tag

# Intercom's integer limit for size and monthly_spend (a 32-bit signed integer).
INT32_MAX = 2**31 - 1


class Company(models.Model):
    """A customer organisation its people (users and leads) belong to; Intercom's company object."""

    company_id = models.CharField(
        "company id",
        max_length=255,
        unique=True,
        help_text="Your own id for this company (its account id in your app, say): the site's widget and the API name "
        "it by this id to link people to it. It cannot be changed later.",
    )
    name = models.CharField(max_length=255, blank=True)
    plan = models.CharField(max_length=255, blank=True)
    size = models.PositiveIntegerField(null=True, blank=True, help_text="Number of employees.")
    website = models.CharField(max_length=255, blank=True)
    industry = models.CharField(max_length=255, blank=True)
    monthly_spend = models.PositiveIntegerField(
        default=0,
        help_text="What this company pays you a month, in whole units of your own currency (no cents); 0 when unknown.",
    )
    remote_created_at = models.DateTimeField("created (on the site)", null=True, blank=True)
    custom_attributes = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, through="CompanyTag", related_name="companies", blank=True)
    contacts = models.ManyToManyField(Contact, through="CompanyContact", related_name="companies", blank=True)
    # Derived, kept up to date by companies.services and the ping's general path (never counted on a read).
    user_count = models.PositiveIntegerField("people", default=0, editable=False)
    session_count = models.PositiveBigIntegerField("web sessions", default=0, editable=False)
    last_request_at = models.DateTimeField("last request", null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        # A viewer reads companies one at a time and takes none out in bulk, as with contacts.
        permissions = [("export_company", "Can export companies (CSV)")]
        ordering = [models.F("last_request_at").desc(nulls_last=True), "-id"]
        indexes = [
            # The list order's indexes, (last_request_at DESC NULLS LAST, id DESC) alone and after plan, are
            # created by migration 0002: SQLite takes no NULLS LAST in an index definition.
            models.Index(Lower("name"), name="company_name_ci"),
            models.Index(fields=["size"], name="company_size"),
            models.Index(fields=["created_at"], name="company_created"),
            # The contact list's Company filter: the companies with the most people first.
            models.Index(fields=["-user_count", "-id"], name="company_people_first"),
        ]

    def __str__(self) -> str:
        return self.name or self.company_id


class CompanyContact(models.Model):
    """A person's membership of a company, and since when."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="company_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "company"], name="company_contact_unique")]
        indexes = [models.Index(fields=["company", "-id"], name="companycontact_company_id")]

    def __str__(self) -> str:
        return str(self.company)


class CompanyTag(models.Model):
    """Who tagged a company, and when."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="company_links")
    tagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    tagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "tag"], name="company_tag_unique")]
        indexes = [models.Index(fields=["tag", "company"], name="companytag_tag_company")]

    def __str__(self) -> str:
        return str(self.tag)
