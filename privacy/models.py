from django.conf import settings
from django.db import models


class DataSubjectRequest(models.Model):
    """A GDPR request from a person (Art. 15-21): what they asked, when, by when, and who handled it."""

    class Kind(models.TextChoices):
        ACCESS = "access", "Access (Art. 15): export their data"
        RECTIFICATION = "rectification", "Rectification (Art. 16): correct their data"
        ERASURE = "erasure", "Erasure (Art. 17): erase them and their history"
        RESTRICTION = "restriction", "Restriction (Art. 18): no tracking, no outbound, chat only"
        OBJECTION = "objection", "Objection to marketing (Art. 21)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        REFUSED = "refused", "Refused (reason in the notes)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The contact's id, not a foreign key: an erasure deletes the contact, the request's record stays.
    contact_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    subject = models.CharField(
        "requester", max_length=255, help_text="How the person is known to you (email or name), for the record."
    )
    received_at = models.DateField(help_text="When the request reached you: the one-month deadline runs from here.")
    due_at = models.DateField("deadline", editable=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"], name="dsr_status_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' (')[0]} request from {self.subject}"
