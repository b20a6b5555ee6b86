"""Email headers built from anyone's words stay one line: a visitor named "Evil\\nBcc: a@b" neither stops the
teammates' emails (Django's BadHeaderError, after the mention was already marked emailed) nor adds a header."""

import ast
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail

from common.mail import email_header_line
from contacts.models import Contact
from contacts.permissions import AGENT_GROUP
from conversations import services
from conversations.models import ConversationMention
from tests.conversations.factories import TeammateFactory
from tests.tracking.conftest import Widget

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
EVIL_NAME = "Evil\nBcc: a@b"


def _visitor_named(client, website, name: str) -> Contact:
    """A visitor whose messenger sent this name in its user settings (the widget's `update`/boot path)."""
    widget = Widget(client, website)
    assert widget.ping(user={"name": name}).status_code == 200
    contact = Contact.objects.get(anonymous_id=widget.anonymous_id)
    assert contact.name == name  # stored as the visitor typed it: the emails must cope
    return contact


def _assert_one_line_and_no_bcc(email, subject: str) -> None:
    assert email.subject == subject
    message = email.message()  # what the backend sends: it raised BadHeaderError before
    assert message["Subject"] == subject and message["Bcc"] is None
    assert email.bcc == [] and "a@b" not in email.recipients()


def test_header_line_collapses_line_breaks_and_control_characters():
    assert email_header_line("Evil\r\nBcc: a@b") == "Evil Bcc: a@b"
    assert email_header_line(" a\u2028b\x85c\x0bd\x00e\x1bf\x7fg  \t h ") == "a b c d e f g h"
    assert email_header_line("Grace Hopper") == "Grace Hopper"
    # Attack review: a direction override in a visitor's first words turned the rest of the subject around.
    assert email_header_line("Re: Invoice \u202efdp.exe \u2066x\u2069") == "Re: Invoice fdp.exe x"


def test_a_mention_email_about_a_visitor_with_a_line_break_in_their_name_is_sent(client, website):
    author = get_user_model().objects.create_user("alex", "alex@parley.test", "x", is_staff=True, first_name="Alex")
    sam = get_user_model().objects.create_user("sam", "sam@parley.test", "x", is_staff=True)
    for teammate in (author, sam):
        teammate.groups.add(Group.objects.get(name=AGENT_GROUP))
    services.teammate_profile_update(teammate=sam, away_mode_enabled=True)
    conversation = services.conversation_start_by_contact(contact=_visitor_named(client, website, EVIL_NAME),
                                                          body="Hello")  # fmt: skip
    note = services.conversation_add_note(conversation=conversation, teammate=author, body="@sam look")
    mail.outbox.clear()

    assert services.mention_email_if_away(part_id=note.pk, teammate_id=sam.pk) is True
    [email] = mail.outbox
    _assert_one_line_and_no_bcc(email, "Alex mentioned you in a conversation with Evil Bcc: a@b")
    assert email.to == ["sam@parley.test"]
    assert ConversationMention.objects.get(part=note, teammate=sam).emailed_at is not None


def test_the_away_assignee_email_about_such_a_visitor_is_sent(client, website):
    agent = TeammateFactory(email="alex@parley.test")
    conversation = services.conversation_start_by_contact(contact=_visitor_named(client, website, EVIL_NAME),
                                                          body="Hello?")  # fmt: skip
    services.conversation_assign(conversation=conversation, teammate=agent, assignee=agent)
    part = conversation.parts.filter(author_contact__isnull=False).last()
    mail.outbox.clear()

    assert services.assignee_email_if_away(part_id=part.pk) is True
    [email] = mail.outbox
    _assert_one_line_and_no_bcc(email, "New message from Evil Bcc: a@b")
    assert email.to == ["alex@parley.test"]


# The calls that build an email, and the one function every subject goes through.
EMAIL_BUILDERS = {"send_mail", "send_mass_mail", "EmailMessage", "EmailMultiAlternatives"}
HEADER_LINE = "email_header_line"
APPS = ["api", "common", "companies", "config", "contacts", "conversations", "ops", "privacy", "reports",
        "retention", "segments", "tracking", "widget"]  # fmt: skip


def _builder_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for folder in APPS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                    if name in EMAIL_BUILDERS:
                        calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def test_every_email_builder_passes_its_subject_through_the_one_header_rule():
    calls = _builder_calls()
    assert len(calls) >= 6  # mentions, away assignee, SLA, outbound, reply, rating
    unguarded = []
    for where, call in calls:
        subject = next((keyword.value for keyword in call.keywords if keyword.arg == "subject"), None)
        guarded = isinstance(subject, ast.Call) and getattr(subject.func, "id", None) == HEADER_LINE
        if not guarded:
            unguarded.append(where)
    assert unguarded == []
