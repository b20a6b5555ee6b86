"""Working faster together: who was mentioned in an internal note (`@username`).

Imported at the end of `conversations/models.py` (same app, own module). The services are
`conversations/services/{mentions,macros,presence}.py`; macros are saved replies with actions
(`SavedReply`), and presence lives in the cache only.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from conversations.models import Conversation, ConversationPart


class ConversationMention(models.Model):
    """A teammate named in an internal note: notified, and listed in their Mentions view (unread until opened)."""

    part = models.ForeignKey(ConversationPart, on_delete=models.CASCADE, related_name="mentions")
    # The note's conversation, kept here so the Mentions view filters without joining the parts.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="mentions")
    teammate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="parley_mentions")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Claimed before the "you were mentioned" email to an away teammate is sent: a rerun sends nothing.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["part", "teammate"], name="mention_once_per_note")]
        indexes = [
            # The Mentions view: a teammate's mentioned conversations.
            models.Index(fields=["teammate", "conversation"], name="mention_teammate_conversation"),
            # Its unread count: only the few unread mentions are in this index.
            models.Index(fields=["teammate"], condition=models.Q(read_at__isnull=True), name="mention_teammate_unread"),
        ]

    def __str__(self) -> str:
        return f"Mention of {self.teammate_id} in conversation {self.conversation_id}"
