"""Customer satisfaction (CSAT): a rating request when a teammate closes a conversation, and its answer.

Every way of closing goes through `threads.conversation_close` (the admin's close, reply and close, the
inbox's bulk close, the API, macros), which calls `conversation_rating_request` in its transaction. A
request is made when:
- the conversation's website asks for ratings (`Website.conversation_ratings_enabled`, off by default); a
  conversation without a website (started by a teammate, or by an email answer) when some website does;
- a teammate answered it, lately: the last teammate reply is at most RATING_AFTER_REPLY_WITHIN (7 days) before
  the closure. A conversation closed unanswered has nothing to rate (Intercom's rule too), and one closed
  weeks after the last answer (a clean-up of stale conversations) would ask about a conversation the contact
  has forgotten;
- the closure is not one of a bulk close of several conversations, unless the teammate asked for ratings
  there (`ask_for_rating`: the inbox's "Ask for ratings" box, off by default);
- the contact's processing is not restricted (GDPR Art. 18: chat only, nothing asked of them).

One request per closure (the close part is its key): reopened and closed again is a new request, and the
reopening (the contact writing, a teammate, the API, a snooze's end, or snoozing the closed conversation)
withdraws the request of the closure it ends: it can no longer be answered, nor its rating changed. The
contact sees it in the messenger (it counts as one unread message, so the launcher's badge brings them to
it); a contact who does not read it there within the website's "email unread replies" delay, and every
email conversation, gets a link to the rating page by email. The answer is a rating from 1 to 5 and an
optional remark; it can be given for RATING_ANSWER_WINDOW after the closure and changed for
RATING_CHANGE_WINDOW after it was first given, then it is final.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from common.mail import email_header_line
from common.parsing import text_problem, without_direction_controls
from conversations import email_links
from conversations.models import Conversation, ConversationPart, ConversationRating
from conversations.models_ratings import RATING_MAX, RATING_MIN
from conversations.services.email_confirmation import email_confirmed, team_sender
from conversations.signals import conversation_changed
from tracking.models import Website

RATING_ANSWER_WINDOW = dt.timedelta(days=7)
# A closure asks only when a teammate replied at most this long before it.
RATING_AFTER_REPLY_WITHIN = dt.timedelta(days=7)
RATING_CHANGE_WINDOW = dt.timedelta(hours=24)
# The rating page's link lives as long as a request can be answered and then changed.
RATING_LINK_MAX_AGE = RATING_ANSWER_WINDOW + RATING_CHANGE_WINDOW
REMARK_MAX_LENGTH = 2000
# An email conversation's request goes by email at once, a minute after the closure: after the reply a
# "reply and close" sent (that email leaves on commit too), not before it.
EMAIL_CONVERSATION_DELAY = dt.timedelta(minutes=1)
# A conversation without a website (a teammate started it) waits as long as a new website's default.
DEFAULT_EMAIL_DELAY_MINUTES = 5
RATING_TOPIC = "conversation.rating.added"
RATING_EXPIRED = (
    f"This rating request has expired: ratings are taken for {RATING_ANSWER_WINDOW.days} days after a "
    "conversation is closed."
)
RATING_FINAL = (
    f"This rating can no longer be changed: a rating can be changed for "
    f"{int(RATING_CHANGE_WINDOW.total_seconds() // 3600)} hours after it is given."
)
RATING_WITHDRAWN = (
    "This conversation was opened again, so this rating request is closed: you will be asked again when it is closed."
)


class RatingClosed(ValidationError):
    """The request can no longer be answered (expired, withdrawn) or its rating changed (final)."""


def rating_clean(value: Any) -> int:
    """A rating as JSON gives it: a whole number from 1 to 5 (not "5", 5.0, true or "٣")."""
    if isinstance(value, bool) or not isinstance(value, int) or not RATING_MIN <= value <= RATING_MAX:
        raise ValidationError({"rating": f"Must be a whole number from {RATING_MIN} to {RATING_MAX}."})
    return value


def remark_clean(value: Any) -> str:
    """An optional comment: text without NUL or lone surrogates, at most REMARK_MAX_LENGTH characters; direction
    controls are dropped (as from file names: they would make the remark read otherwise on the admin's page)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({"remark": "Must be a string."})
    problem = text_problem(value)
    if problem:
        raise ValidationError({"remark": problem})
    value = without_direction_controls(value).strip()
    if len(value) > REMARK_MAX_LENGTH:
        raise ValidationError({"remark": f"Must be at most {REMARK_MAX_LENGTH} characters."})
    return value


def rating_answer_clean(*, rating: Any, remark: Any) -> tuple[int, str | None]:
    """An answer's rating and remark as conversation_rating_give takes them (None: the remark given before is
    kept); raises naming `rating` or `remark`."""
    return rating_clean(rating), None if remark is None else remark_clean(remark)


@dataclass(frozen=True)
class RatingStatus:
    """Where a request stands at a moment: answerable (or changeable) until `open_until`, then closed."""

    open_until: dt.datetime
    is_open: bool
    withdrawn: bool = False  # closed because the conversation opened again

    @property
    def expired(self) -> bool:
        """Closed without an answer."""
        return not self.is_open

    @property
    def closed_message(self) -> str:
        """Why an answer is refused now (for a request answered or not: `rating` says which)."""
        return RATING_WITHDRAWN if self.withdrawn else RATING_FINAL


def rating_status(rating: ConversationRating, *, now: dt.datetime | None = None) -> RatingStatus:
    """Unanswered: open for RATING_ANSWER_WINDOW after the closure; answered: for RATING_CHANGE_WINDOW after
    the first answer; either way no longer once the conversation opened again (withdrawn)."""
    now = now or timezone.now()
    if rating.rated_at is None:
        until = rating.requested_at + RATING_ANSWER_WINDOW
    else:
        until = rating.rated_at + RATING_CHANGE_WINDOW
    withdrawn = rating.withdrawn_at is not None and rating.withdrawn_at <= now
    if withdrawn:
        until = min(until, rating.withdrawn_at)
    return RatingStatus(open_until=until, is_open=now < until, withdrawn=withdrawn)


def _open_at(at: dt.datetime) -> Q:
    """Requests still answerable (or changeable) at `at`, as rating_status reads them."""
    unanswered = Q(rated_at__isnull=True, requested_at__gt=at - RATING_ANSWER_WINDOW)
    return (unanswered | Q(rated_at__gt=at - RATING_CHANGE_WINDOW)) & Q(withdrawn_at__isnull=True)


def conversation_ratings_withdraw(*, conversation: Conversation, at: dt.datetime) -> int:
    """Called in the transaction that opens a closed conversation again (threads: the contact writing, a
    teammate or the API reopening, a snooze of the closed conversation and its end): the open request of the
    closure that ends can no longer be answered or changed. One UPDATE on the `rating_conversation` index."""
    return ConversationRating.objects.filter(_open_at(at), conversation_id=conversation.pk).update(withdrawn_at=at)


def _asks_for_ratings(conversation: Conversation, *, closed_at: dt.datetime) -> bool:
    if conversation.first_response_at is None or conversation.contact.processing_restricted:
        return False
    if conversation.website_id is not None:
        asks = Website.objects.filter(pk=conversation.website_id, conversation_ratings_enabled=True).exists()
    else:
        asks = Website.objects.filter(conversation_ratings_enabled=True).exists()
    return asks and _teammate_replied_since(conversation, since=closed_at - RATING_AFTER_REPLY_WITHIN)


def _teammate_replied_since(conversation: Conversation, *, since: dt.datetime) -> bool:
    """A teammate's comment (not a note) at or after `since` (index `part_conversation_time`)."""
    return ConversationPart.objects.filter(
        conversation_id=conversation.pk,
        created_at__gte=since,
        part_type=ConversationPart.Type.COMMENT,
        author_teammate__isnull=False,
    ).exists()


def conversation_rating_request(
    *,
    conversation: Conversation,
    closure: ConversationPart,
    teammate: AbstractBaseUser | None,
    ask_for_rating: bool = True,
) -> ConversationRating | None:
    """Called by conversation_close in its transaction (the conversation row locked): the closure's rating
    request, when the rules above ask for one; None otherwise. `ask_for_rating` False: a bulk close of several
    conversations where the teammate did not ask for ratings."""
    if not ask_for_rating or not _asks_for_ratings(conversation, closed_at=closure.created_at):
        return None
    request = ConversationRating.objects.create(
        conversation=conversation,
        closure=closure,
        contact_id=conversation.contact_id,
        teammate_id=conversation.assignee_id or (teammate.pk if teammate is not None else None),
        team_id=conversation.team_id,
        website_id=conversation.website_id,
        requested_at=closure.created_at,
    )
    # One unread item in the messenger: the launcher's badge shows it and opening goes to the thread.
    Conversation.objects.filter(pk=conversation.pk).update(contact_unread_count=F("contact_unread_count") + 1)
    conversation.refresh_from_db(fields=["contact_unread_count"])
    _email_schedule(request=request, conversation=conversation)
    return request


@transaction.atomic
def conversation_rating_give(
    *, request: ConversationRating, rating: Any, remark: Any = None, now: dt.datetime | None = None
) -> ConversationRating:
    """The contact answers a request (messenger or rating page): a rating from 1 to 5 and, when given, a remark
    (None keeps the one given before, "" removes it). Refused once the request expired or its rating is final."""
    score, text = rating_answer_clean(rating=rating, remark=remark)
    now = now or timezone.now()
    row = ConversationRating.objects.select_for_update().select_related("conversation").get(pk=request.pk)
    status = rating_status(row, now=now)
    if not status.is_open:
        expired = row.rating is None and not status.withdrawn
        raise RatingClosed({"rating": RATING_EXPIRED if expired else status.closed_message})
    if row.rating == score and (text is None or text == row.remark):
        return row  # the same answer again: nothing changes, no second webhook
    fields = ["rating", "updated_at"]
    if row.rating is None:
        row.rated_at = now
        fields.append("rated_at")
    row.rating, row.updated_at = score, now
    if text is not None:
        row.remark = text
        fields.append("remark")
    row.save(update_fields=fields)
    conversation_changed.send(sender=Conversation, topic=RATING_TOPIC, conversation=row.conversation)
    return row


# --- the email channel: a link to the rating page -----------------------------------------------


def _email_schedule(*, request: ConversationRating, conversation: Conversation) -> None:
    """Email the link later, to a contact with an email who did not unsubscribe: an email conversation's at
    once; a messenger conversation's only if the contact has not read it there by then."""
    contact = conversation.contact
    if not contact.email or contact.unsubscribed_from_emails:
        return
    if conversation.source == Conversation.Source.EMAIL:
        delay = EMAIL_CONVERSATION_DELAY
    else:
        website = conversation.website
        minutes = website.email_unread_replies_after_minutes if website else DEFAULT_EMAIL_DELAY_MINUTES
        if minutes is None:  # the owner never emails what the messenger shows
            return
        delay = dt.timedelta(minutes=minutes)
    from conversations import tasks

    request_id = request.pk
    transaction.on_commit(
        lambda: tasks.email_rating_request.apply_async((request_id,), countdown=int(delay.total_seconds()))
    )


def conversation_rating_email_send(*, rating_id: int, now: dt.datetime | None = None) -> bool:
    """Email the rating page's link, once, unless the request was answered, expired, or (messenger) the contact
    read the conversation since the closure; claimed before sending, so a rerun never sends twice."""
    now = now or timezone.now()
    row = (
        ConversationRating.objects.select_related("conversation__contact", "teammate__parley_profile", "website")
        .filter(pk=rating_id, rating__isnull=True, emailed_at__isnull=True)
        .first()
    )
    if row is None or not rating_status(row, now=now).is_open:
        return False
    conversation, contact = row.conversation, row.conversation.contact
    # Only to an address shown to be the contact's: the subject quotes the conversation's first words, which anyone who
    # typed a stranger's address into a messenger wrote (email_confirmation; a rating asks for no confirmation).
    if not email_confirmed(contact) or contact.unsubscribed_from_emails or contact.processing_restricted:
        return False
    read_at = conversation.contact_last_read_at
    if conversation.source != Conversation.Source.EMAIL and read_at is not None and read_at >= row.requested_at:
        return False  # seen in the messenger
    claimed = ConversationRating.objects.filter(pk=row.pk, emailed_at__isnull=True, rating__isnull=True).update(
        emailed_at=now
    )
    if not claimed:
        return False
    _rating_email(row).send()
    return True


def _rating_email(row: ConversationRating) -> mail.EmailMultiAlternatives:
    from conversations.services.outbound import conversation_email_thread_headers, conversation_subject
    from conversations.services.threads import teammate_display_name

    conversation, contact = row.conversation, row.conversation.contact
    context = {
        "contact": contact,
        "teammate_name": teammate_display_name(row.teammate),
        "team_name": row.website.name if row.website else "",
        "subject": conversation_subject(conversation),
        "page_url": email_links.rating_url(row.pk),
        "scores": [(score, email_links.rating_url(row.pk, rating=score)) for score in range(RATING_MAX, 0, -1)],
        "valid_days": RATING_ANSWER_WINDOW.days,
    }
    email = mail.EmailMultiAlternatives(
        subject=email_header_line(f"How did we do? {context['subject']}"),
        body=render_to_string("emails/conversation_rating.txt", context),
        from_email=team_sender(row.website),
        to=[contact.email],
        reply_to=[email_links.reply_address(conversation_id=conversation.pk)],
        # Sent by Parley, not written by a person (RFC 3834); threaded with the conversation's emails.
        headers={"Auto-Submitted": "auto-generated", **conversation_email_thread_headers(conversation)},
    )
    email.attach_alternative(render_to_string("emails/conversation_rating.html", context), "text/html")
    return email
