"""Segments: named, saved filters over contacts (in the search API's query language, contacts.search) or
over companies (the same language over company fields, companies.search)."""

from django.conf import settings
from django.db import models


class Segment(models.Model):
    """A saved contact or company filter; its member count is cached (refreshed by Celery), never counted per
    page view. Its kind (`person_type`) is set once: the filter is written in that kind's fields."""

    class PersonType(models.TextChoices):
        CONTACT = "contact", "Contacts"
        COMPANY = "company", "Companies"

    name = models.CharField(max_length=100, unique=True)
    person_type = models.CharField("kind", max_length=16, choices=PersonType.choices, default=PersonType.CONTACT)
    # Contacts: the body's `query` of POST /contacts/search; companies: the same over company fields.
    query = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Members when last counted (segments.tasks.refresh_segment_counts); None until the first count.
    member_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    counted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
