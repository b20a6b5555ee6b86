"""Customer satisfaction (CSAT): one rating request per closure of a conversation, and its answer.

Imported at the end of `conversations/models.py` (same app, own module). The rules are in
`conversations/services/ratings.py`; the reads (admin, API, reports) in `conversations/selectors.py`.
"""

from django.conf import settings
from django.db import models

from contacts.models import Contact
from conversations.models import Conversation, ConversationPart, Team

RATING_MIN = 1
RATING_MAX = 5


class ConversationRating(models.Model):
    """A closure's rating request (made when a teammate closed the conversation) and, once the contact
    answers, the rating (1-5) and an optional remark. One row per closure; the row keeps who and where
    the conversation was at that closure, so reports read it without joins."""

    # Indexed with the id (Meta): a conversation's latest rating is the first entry of its index, read backwards.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="ratings", db_index=False)
    # The close part this request belongs to: one request per closure (reopen and close again: a new one).
    closure = models.OneToOneField(ConversationPart, on_delete=models.CASCADE, related_name="rating")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversation_ratings")
    # At the closure: the assignee (else the teammate who closed it), its team and website.
    teammate = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    website = models.ForeignKey("tracking.Website", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)  # null: asked, not answered (yet)
    remark = models.TextField(blank=True)
    requested_at = models.DateTimeField()  # Intercom's conversation_rating.created_at
    rated_at = models.DateTimeField(null=True, blank=True)  # the first answer: the change window starts here
    updated_at = models.DateTimeField(null=True, blank=True)  # the last answer
    # The request went by email (a link to the rating page): the contact did not see it in the messenger.
    emailed_at = models.DateTimeField(null=True, blank=True)
    # The conversation opened again while the request was open: from then it can no longer be answered or changed
    # (the closure it asked about is over; closing again asks again). A rating given before it stays.
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True) | models.Q(rating__gte=RATING_MIN, rating__lte=RATING_MAX),
                name="rating_one_to_five",
            ),
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True, rated_at__isnull=True)
                | models.Q(rating__isnull=False, rated_at__isnull=False),
                name="rating_rated_at_together",
            ),
        ]
        indexes = [
            # A conversation's requests in the order they were made (ids grow with the closures): the inbox's
            # and the contact page's latest rating without a sort; the foreign key's lookups too.
            models.Index(fields=["conversation", "id"], name="rating_conversation"),
            # Reports read ratings by the day they were given (`rated_at` is null until then).
            models.Index(fields=["rated_at"], name="rating_rated_at"),
        ]

    def __str__(self) -> str:
        given = f"{self.rating}/{RATING_MAX}" if self.rating else "not rated"
        return f"Rating of conversation {self.conversation_id} ({given})"

    @property
    def stars(self) -> str:
        """The rating drawn as five stars ("★★★★☆"), empty when not rated."""
        return "★" * self.rating + "☆" * (RATING_MAX - self.rating) if self.rating else ""
