"""Files attached to conversation parts (conversations/services/attachments.py writes them).

The bytes live in the "attachments" storage (settings.STORAGES: a folder under VAR_DIR by default, an
S3-compatible bucket in production) under random names that say nothing about the person; the name the
person gave is only in the row. An attachment reaches its contact through its part and conversation, so
erase and retention delete the rows, and contacts.deletion deletes the files once that commits.
"""

from django.core.files.storage import Storage, storages
from django.db import models

from common.attachment_types import INLINE_IMAGE_TYPES


def attachments_storage() -> Storage:
    """The storage of attachment files (a callable: the setting is read when used, not at import)."""
    return storages["attachments"]


def new_attachment_public_id() -> str:
    from conversations.models import new_public_id

    return new_public_id()


class Attachment(models.Model):
    """One file of a message or a note: its bytes in storage, what was read from them here."""

    class Variant(models.TextChoices):
        ORIGINAL = "file", "The file"
        THUMBNAIL = "thumb", "Thumbnail"
        # The file offered for saving under its name, an image too: the messenger's pages are on another origin,
        # where a link's `download` attribute is ignored.
        DOWNLOAD = "download", "The file, to save"

    # In URLs: 128 random bits, so neither the part's id nor a count of files can be guessed from it.
    public_id = models.CharField(max_length=32, unique=True, default=new_attachment_public_id, editable=False)
    part = models.ForeignKey("conversations.ConversationPart", on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(storage=attachments_storage, max_length=255)
    # A small WebP of an image Parley could decode; empty for every other file (and a refused image).
    thumbnail = models.FileField(storage=attachments_storage, max_length=255, blank=True)
    name = models.CharField(max_length=255, help_text="The file name as given, made safe to show and save.")
    content_type = models.CharField(max_length=100, help_text="Read from the bytes, never from the sender.")
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_inline_image(self) -> bool:
        """Shown inline (with its thumbnail) rather than offered as a download."""
        return self.content_type in INLINE_IMAGE_TYPES and bool(self.thumbnail)
