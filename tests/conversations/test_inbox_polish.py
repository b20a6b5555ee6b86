"""The inbox's small words, as issue 15's walk read them: SLA times past a day in days ("overdue 113 d", not
"overdue 2712h"), priority as a flag (the stars are ratings), counts in the singular or plural."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations import services
from conversations.models import Conversation
from conversations.services.sla import duration_short, sla_label, sla_target
from tests.contacts.factories import LeadFactory

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:conversations_conversation_changelist")


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (dt.timedelta(seconds=59), "0m"),
        (dt.timedelta(minutes=12), "12m"),
        (dt.timedelta(hours=3, minutes=5), "3h 05m"),
        (dt.timedelta(hours=23, minutes=59), "23h 59m"),
        (dt.timedelta(days=1), "1 d"),
        (dt.timedelta(days=1, hours=6, minutes=30), "1 d 6h"),
        (dt.timedelta(days=2, hours=23), "2 d 23h"),
        (dt.timedelta(days=3, hours=5), "3 d"),
        (dt.timedelta(hours=2712), "113 d"),
    ],
)
def test_a_span_reads_in_minutes_hours_then_days(span, words):
    assert duration_short(span) == words


def test_an_sla_overdue_for_months_says_days():
    now = timezone.now()
    conversation = Conversation(state=Conversation.State.OPEN, sla_due_at=now - dt.timedelta(hours=2712, minutes=7))
    assert sla_label(conversation, now=now) == ("overdue 113 d", True)
    conversation.sla_due_at = now + dt.timedelta(days=1, hours=2, minutes=1)
    assert sla_label(conversation, now=now) == ("1 d 2h left", False)


def test_an_sla_says_which_target_it_counts_down_to():
    """The walk saw "59m left", then "2 d 23h left", then "3h 59m left" without knowing what each was for."""
    now = timezone.now()
    reply_due, close_due = now + dt.timedelta(minutes=59), now + dt.timedelta(days=3)
    conversation = Conversation(sla_due_at=reply_due, sla_response_due_at=reply_due, sla_close_due_at=close_due)
    assert sla_target(conversation) == "first reply"
    conversation.first_response_at = now - dt.timedelta(hours=1)  # answered once, the contact wrote again
    assert sla_target(conversation) == "next reply"
    conversation.sla_due_at, conversation.sla_response_due_at = close_due, None  # answered: only the close is due
    assert sla_target(conversation) == "close"


def test_priority_is_a_flag_not_a_star(admin_client):
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Urgent!")
    services.conversation_set_priority(conversation=conversation, priority=Conversation.Priority.PRIORITY)
    inbox = admin_client.get(INBOX).content.decode()
    row = inbox.split('class="field-preview_column"')[1].split("</td>")[0]
    assert "parley-priority" in row and 'aria-label="Priority"' in row.replace("'", '"') and "★" not in row
    page = admin_client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    assert '<span class="parley-priority" aria-hidden="true"></span> Priority' in page.content.decode()
    assert "★ Priority" not in page.content.decode()


@pytest.mark.parametrize(("count", "words"), [(1, "Closed 1 conversation."), (2, "Closed 2 conversations.")])
def test_bulk_actions_count_in_the_singular_or_the_plural(admin_client, count, words):
    conversations = [services.conversation_start_by_contact(contact=LeadFactory(), body="Hi") for _ in range(count)]
    response = admin_client.post(
        INBOX, {"action": "close_selected", "_selected_action": [c.pk for c in conversations], "index": "0"},
        follow=True,
    )  # fmt: skip
    page = response.content.decode()
    assert words in page and "(s)" not in page.split('class="messagelist"')[1].split("</ul>")[0]


def test_a_long_last_message_is_cut_at_a_word_and_said_to_be_cut(admin_client):
    """Walk: the preview ended mid-word ("…insideitto") with nothing to say there was more."""
    words = "The lamp arrived with a cracked shade and the bulb rattles inside it " * 3
    services.conversation_start_by_contact(contact=LeadFactory(), body=words + "tomorrow")
    services.conversation_start_by_contact(contact=LeadFactory(), body="Short question")
    page = admin_client.get(INBOX).content.decode()
    shown = "The lamp" + re.search(r"<span class='parley-preview'>The lamp([^<]*)</span>", page).group(1)
    assert shown.endswith("…") and len(shown) <= 121
    assert (words + "tomorrow").startswith(shown.removesuffix("…") + " ")  # cut where a word ends
    assert "<span class='parley-preview'>Short question</span>" in page
