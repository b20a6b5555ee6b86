"""Customer satisfaction (CSAT): one rating request per closure, the 1-5 answer changeable for 24 hours,
the email channel, GDPR (export, erase, retention, merge) and the reads the reports use."""

import datetime as dt
import json
from email.message import EmailMessage

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts import services as contact_services
from contacts.models import PrivacyAuditEntry
from conversations import email_links, selectors, services
from conversations.models import Conversation, ConversationPart, ConversationRating, Team
from conversations.services import ratings
from conversations.services.attachments import attachment_name_clean
from retention import services as retention_services
from tests.contacts.factories import LeadFactory, UserContactFactory
from tests.conversations.factories import TeammateFactory
from tests.tracking.factories import ORIGIN, WebsiteFactory
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db


def _answered(*, website=None, contact=None, teammate=None, team=None, body="Where is my parcel?"):
    """A messenger conversation a teammate answered, on a website that asks for ratings."""
    website = website or WebsiteFactory(conversation_ratings_enabled=True)
    contact = contact or LeadFactory()
    teammate = teammate or TeammateFactory()
    conversation = services.conversation_start_by_contact(contact=contact, body=body, website=website)
    if team is not None:
        services.conversation_assign(conversation=conversation, teammate=teammate, assignee=None, team=team)
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="On its way!")
    return conversation, teammate


def _closed(**options):
    conversation, teammate = _answered(**options)
    closed = services.conversation_close(conversation=conversation, teammate=teammate)
    return closed, ConversationRating.objects.get(conversation=conversation)


# --- the request --------------------------------------------------------------------------------


def test_closing_an_answered_conversation_asks_its_contact_for_one_rating():
    team = Team.objects.create(name="Billing")
    conversation, teammate = _answered(team=team)
    unread_before = Conversation.objects.get(pk=conversation.pk).contact_unread_count

    services.conversation_close(conversation=conversation, teammate=teammate)

    request = ConversationRating.objects.get()
    closure = conversation.parts.get(part_type=ConversationPart.Type.CLOSE)
    assert request.closure == closure and request.requested_at == closure.created_at
    assert (request.conversation, request.contact, request.teammate) == (conversation, conversation.contact, teammate)
    assert (request.team, request.website) == (team, conversation.website)
    assert (request.rating, request.remark, request.rated_at) == (None, "", None)
    # One more unread item for the messenger: its badge brings the contact to the request.
    assert Conversation.objects.get(pk=conversation.pk).contact_unread_count == unread_before + 1


def test_a_macro_that_closes_asks_for_a_rating_like_any_close():
    from conversations.models import SavedReply
    from conversations.services.macros import macro_run

    conversation, teammate = _answered()
    macro = SavedReply.objects.create(name="Solved", body="Glad it worked out!", close=True)
    macro_run(saved_reply=macro, conversation=conversation, teammate=teammate)
    request = ConversationRating.objects.get()
    assert request.closure.part_type == ConversationPart.Type.CLOSE and request.teammate == teammate


def test_the_teammate_of_a_rating_is_the_assignee_at_the_closure_not_who_closed_it():
    conversation, assignee = _answered()
    closer = TeammateFactory()
    services.conversation_close(conversation=conversation, teammate=closer)
    assert ConversationRating.objects.get().teammate == assignee


@pytest.mark.parametrize("case", ["website_off", "unanswered", "restricted"])
def test_no_rating_is_asked_when_the_website_does_not_ask_nobody_answered_or_processing_is_restricted(case):
    website = WebsiteFactory(conversation_ratings_enabled=case != "website_off")
    contact = LeadFactory()
    if case == "restricted":
        contact_services.contact_processing_restrict(contact=contact, restricted=True)
    conversation = services.conversation_start_by_contact(contact=contact, body="Hello", website=website)
    if case != "unanswered":
        services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Hi!")
    services.conversation_close(conversation=conversation, teammate=TeammateFactory())
    assert not ConversationRating.objects.exists()


@pytest.mark.parametrize(("days", "asked"), [(6, True), (7, True), (8, False)])
def test_a_closure_asks_only_when_a_teammate_replied_within_the_last_week(days, asked):
    conversation, teammate = _answered()
    replied_at = conversation.parts.get(author_teammate=teammate).created_at
    with time_machine.travel(replied_at + dt.timedelta(days=days) - dt.timedelta(seconds=1), tick=False):
        services.conversation_close(conversation=conversation, teammate=teammate)
    assert ConversationRating.objects.filter(conversation=conversation).exists() == asked


def test_a_stale_conversation_is_not_asked_because_of_a_note_or_the_contacts_message():
    conversation, teammate = _answered()
    later = timezone.now() + dt.timedelta(days=30)
    with time_machine.travel(later, tick=False):
        services.conversation_reply_as_contact(conversation=conversation, body="Hello?")
        services.conversation_add_note(conversation=conversation, teammate=teammate, body="stale, closing")
        services.conversation_close(conversation=conversation, teammate=teammate)
    assert not ConversationRating.objects.exists()
    with time_machine.travel(later + dt.timedelta(minutes=1), tick=False):  # reopened, answered, closed: asked
        services.conversation_reply_as_contact(conversation=conversation, body="Hello again?")
        services.conversation_reply_and_close(conversation=conversation, teammate=teammate, body="Sorry, here it is")
    assert ConversationRating.objects.count() == 1


def test_a_close_asked_not_to_ask_makes_no_request():
    conversation, teammate = _answered()
    services.conversation_close(conversation=conversation, teammate=teammate, ask_for_rating=False)
    assert conversation.parts.filter(part_type=ConversationPart.Type.CLOSE).exists()
    assert not ConversationRating.objects.exists()


def test_a_conversation_without_a_website_is_asked_when_some_website_asks():
    contact = LeadFactory()
    teammate = TeammateFactory()
    conversation = services.conversation_start_by_teammate(contact=contact, teammate=teammate, body="Welcome!")
    WebsiteFactory(conversation_ratings_enabled=False)
    services.conversation_close(conversation=conversation, teammate=teammate)
    assert not ConversationRating.objects.exists()

    services.conversation_reopen(conversation=conversation, teammate=teammate)
    WebsiteFactory(conversation_ratings_enabled=True)
    services.conversation_close(conversation=conversation, teammate=teammate)
    assert ConversationRating.objects.get().website is None


def test_one_request_per_closure_reopening_and_closing_again_asks_again():
    conversation, teammate = _answered()
    services.conversation_close(conversation=conversation, teammate=teammate)
    services.conversation_close(conversation=conversation, teammate=teammate)  # already closed: nothing new
    assert ConversationRating.objects.count() == 1

    services.conversation_reply_as_contact(conversation=conversation, body="One more thing")  # reopens
    services.conversation_reply_and_close(conversation=conversation, teammate=teammate, body="Done!")

    first, second = ConversationRating.objects.order_by("id")
    assert first.closure != second.closure
    conversation.refresh_from_db()
    assert selectors.conversation_rating_current(conversation=conversation) == second


def test_the_current_request_is_the_latest_closures_and_none_while_open_or_when_it_asked_nothing():
    conversation, request = _closed()
    assert selectors.conversation_rating_current(conversation=conversation) == request
    services.conversation_reopen(conversation=conversation, teammate=None)
    conversation.refresh_from_db()
    assert selectors.conversation_rating_current(conversation=conversation) is None
    conversation.website.conversation_ratings_enabled = False
    conversation.website.save()
    services.conversation_close(conversation=conversation, teammate=None)
    conversation.refresh_from_db()
    # Closed again with ratings switched off: the earlier closure's request is not shown as this one's.
    assert selectors.conversation_rating_current(conversation=conversation) is None


# --- the answer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5", "5.0", 5.0, "\u0665", True, False, 0, 6, -1, None, [5], {"rating": 5}, 10**30])
def test_a_rating_is_a_whole_number_from_1_to_5_and_nothing_else(value):
    _, request = _closed()
    with pytest.raises(ValidationError) as refused:
        services.conversation_rating_give(request=request, rating=value)
    assert "rating" in refused.value.message_dict
    assert ConversationRating.objects.get().rating is None


@pytest.mark.parametrize(
    ("remark", "problem"),
    [("a\x00b", "NUL"), ("\ud800", "surrogate"), ("x" * 2001, "at most 2000"), (42, "string")],
)
def test_a_remark_is_bounded_text(remark, problem):
    _, request = _closed()
    with pytest.raises(ValidationError) as refused:
        services.conversation_rating_give(request=request, rating=4, remark=remark)
    assert problem in refused.value.message_dict["remark"][0]


def test_a_remark_drops_direction_controls_as_file_names_do():
    _, request = _closed()
    sneaky = "\u202eevil\u2066 text\u200f, \u202aokay\u202c"
    rating = services.conversation_rating_give(
        request=request, rating=2, remark=sneaky + "\nsecond line \U0001f44d\u200d"
    )
    assert rating.remark == "evil text, okay\nsecond line \U0001f44d\u200d"  # lines and joiners stay
    assert attachment_name_clean("\u202egpj.exe") == "gpj.exe"


def test_a_rating_with_a_remark_is_kept_and_changeable_for_24_hours_then_final():
    _, request = _closed()
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2), tick=False):
        given = services.conversation_rating_give(request=request, rating=4, remark="  Quick and kind.  ")
        assert (given.rating, given.remark) == (4, "Quick and kind.")
        first_given_at = given.rated_at
    with time_machine.travel(first_given_at + dt.timedelta(hours=23, minutes=59), tick=False):
        changed = services.conversation_rating_give(request=request, rating=5)  # the remark is kept
        assert (changed.rating, changed.remark, changed.rated_at) == (5, "Quick and kind.", first_given_at)
        assert changed.updated_at == timezone.now()
        services.conversation_rating_give(request=request, rating=5, remark="")  # "" removes it
    with (
        time_machine.travel(first_given_at + dt.timedelta(hours=24), tick=False),
        pytest.raises(services.RatingClosed) as final,
    ):
        services.conversation_rating_give(request=request, rating=1)
    assert "can no longer be changed" in final.value.message_dict["rating"][0]
    assert (ConversationRating.objects.get().rating, ConversationRating.objects.get().remark) == (5, "")


def test_an_unanswered_request_expires_after_a_week():
    _, request = _closed()
    with (
        time_machine.travel(request.requested_at + ratings.RATING_ANSWER_WINDOW, tick=False),
        pytest.raises(services.RatingClosed) as expired,
    ):
        services.conversation_rating_give(request=request, rating=3)
    assert "expired" in expired.value.message_dict["rating"][0]


def test_a_rating_given_late_in_the_week_can_still_be_changed_for_24_hours():
    _, request = _closed()
    late = request.requested_at + ratings.RATING_ANSWER_WINDOW - dt.timedelta(minutes=1)
    with time_machine.travel(late, tick=False):
        services.conversation_rating_give(request=request, rating=2)
    with time_machine.travel(late + dt.timedelta(hours=23), tick=False):
        assert services.conversation_rating_give(request=request, rating=3).rating == 3


# --- the email channel --------------------------------------------------------------------------


def _outbox_links(message):
    return [line.split(": ", 1)[1] for line in message.body.splitlines() if line[:2] in {f"{n}/" for n in "12345"}]


def test_an_unread_messenger_request_is_emailed_once_with_a_link_per_score():
    _, request = _closed(contact=LeadFactory(name="Lin", email="lin@example.com"))
    assert services.conversation_rating_email_send(rating_id=request.pk) is True
    assert services.conversation_rating_email_send(rating_id=request.pk) is False  # claimed: never twice
    (email,) = mail.outbox
    assert email.to == ["lin@example.com"] and email.subject == "How did we do? Where is my parcel?"
    assert email.extra_headers["Auto-Submitted"] == "auto-generated"
    assert len(_outbox_links(email)) == 5
    assert ConversationRating.objects.get().emailed_at is not None


@pytest.mark.parametrize(
    ("website_name", "sender"),
    [
        ("Acme Support", "Acme Support <support@parley.localhost>"),
        ('Acme, "the" Shop', '"Acme, \\"the\\" Shop" <support@parley.localhost>'),
        ("Evil\r\nBcc: all@example.com", '"Evil Bcc: all@example.com" <support@parley.localhost>'),
    ],
)
def test_the_rating_email_comes_from_the_websites_name_at_the_configured_address(settings, website_name, sender):
    settings.DEFAULT_FROM_EMAIL = "Parley <support@parley.localhost>"
    website = WebsiteFactory(name=website_name, conversation_ratings_enabled=True)
    _, request = _closed(website=website, contact=LeadFactory(email="lin@example.com"))
    assert services.conversation_rating_email_send(rating_id=request.pk)
    (email,) = mail.outbox
    assert email.from_email == sender
    assert "Bcc" not in email.message()  # the name never adds a header
    assert email.message()["From"].count("\n") == 0


def test_a_rating_email_without_a_website_comes_from_the_configured_sender(settings):
    settings.DEFAULT_FROM_EMAIL = "Parley <support@parley.localhost>"
    WebsiteFactory(conversation_ratings_enabled=True)
    teammate = TeammateFactory()
    conversation = services.conversation_start_by_teammate(contact=LeadFactory(email="lin@example.com"),
                                                           teammate=teammate, body="Welcome!")  # fmt: skip
    services.conversation_close(conversation=conversation, teammate=teammate)
    assert services.conversation_rating_email_send(rating_id=ConversationRating.objects.get().pk)
    assert mail.outbox[0].from_email == "Parley <support@parley.localhost>"


def test_reading_the_request_in_the_messenger_or_answering_it_cancels_its_email():
    conversation, request = _closed()
    services.conversation_mark_read(conversation=conversation, by_contact=True)
    assert services.conversation_rating_email_send(rating_id=request.pk) is False
    conversation, request = _closed()
    services.conversation_rating_give(request=request, rating=5)
    assert services.conversation_rating_email_send(rating_id=request.pk) is False
    assert mail.outbox == []


def test_the_email_is_planned_after_the_websites_unread_delay_and_never_without_an_address(
    django_capture_on_commit_callbacks, monkeypatch
):
    from conversations import tasks

    queued = []
    monkeypatch.setattr(
        tasks.email_rating_request, "apply_async", lambda args, countdown: queued.append((args, countdown))
    )
    website = WebsiteFactory(conversation_ratings_enabled=True, email_unread_replies_after_minutes=7)
    conversation, teammate = _answered(website=website)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_close(conversation=conversation, teammate=teammate)
    assert queued == [((ConversationRating.objects.get().pk,), 7 * 60)]

    quiet = WebsiteFactory(conversation_ratings_enabled=True, email_unread_replies_after_minutes=None)
    no_email_ever = [(quiet, LeadFactory()), (website, LeadFactory(email="")),
                     (website, LeadFactory(unsubscribed_from_emails=True))]  # fmt: skip
    for site, contact in no_email_ever:
        conversation, teammate = _answered(website=site, contact=contact)
        with django_capture_on_commit_callbacks(execute=True):
            services.conversation_close(conversation=conversation, teammate=teammate)
    assert len(queued) == 1
    assert ConversationRating.objects.count() == 4  # asked in the messenger all the same


def test_an_email_conversation_is_emailed_even_after_the_contact_read_it():
    conversation, request = _closed(contact=UserContactFactory(email="grace@example.com"))
    Conversation.objects.filter(pk=conversation.pk).update(
        source=Conversation.Source.EMAIL, contact_last_read_at=timezone.now() + dt.timedelta(minutes=1)
    )
    assert services.conversation_rating_email_send(rating_id=request.pk) is True
    assert mail.outbox[0].to == ["grace@example.com"]


# --- GDPR: export, erase, retention, merge ------------------------------------------------------


def test_ratings_are_in_the_contacts_export_and_gone_with_the_erase():
    conversation, request = _closed()
    services.conversation_rating_give(request=request, rating=2, remark="My name is Ada, call me on 555")
    exported = contact_services.contact_export(
        contact=conversation.contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN
    )
    (row,) = exported["conversation_ratings"]
    assert (row["rating"], row["remark"], row["conversation"]) == (2, "My name is Ada, call me on 555",
                                                                    conversation.public_id)  # fmt: skip

    contact_services.contact_erase(contact=conversation.contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN)
    assert not ConversationRating.objects.exists()


def test_retention_of_closed_conversations_deletes_their_ratings():
    conversation, request = _closed()
    services.conversation_rating_give(request=request, rating=5, remark="Great")
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now() - dt.timedelta(days=40))
    retention_services.retention_policy_update(closed_conversation_ttl_days=30)
    retention_services.retention_rules_apply()
    assert not Conversation.objects.exists()
    assert not ConversationRating.objects.exists()


def test_a_merge_moves_the_leads_ratings_to_the_user():
    lead = LeadFactory()
    _, request = _closed(contact=lead)
    user = UserContactFactory()
    contact_services.contact_merge(source=lead, into=user)
    assert ConversationRating.objects.get(pk=request.pk).contact == user


# --- the reads the reports use ------------------------------------------------------------------


def test_ratings_given_are_summed_per_day_and_over_a_range_in_one_query_each():
    website, other = (
        WebsiteFactory(conversation_ratings_enabled=True),
        WebsiteFactory(conversation_ratings_enabled=True),
    )
    day_one = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    scores = [(day_one, website, 5), (day_one, website, 4), (day_one, other, 1),
              (day_one + dt.timedelta(days=1), website, 3)]  # fmt: skip
    for at, site, score in scores:
        with time_machine.travel(at, tick=False):
            _, request = _closed(website=site)
            services.conversation_rating_give(request=request, rating=score)
    _closed(website=website)  # asked, never answered: not a rating

    rated = selectors.ratings_given(since=day_one - dt.timedelta(hours=10), until=day_one + dt.timedelta(days=2))
    with CaptureQueriesContext(connection) as queries:
        summary = selectors.ratings_summary(rated)
    assert len(queries) == 1
    assert (summary.count, summary.average, summary.satisfied, summary.csat_percent) == (4, 3.25, 2, 50.0)
    assert summary.distribution == {1: 1, 2: 0, 3: 1, 4: 1, 5: 1}

    two_days = selectors.ratings_given(
        since=day_one - dt.timedelta(days=1), until=day_one + dt.timedelta(days=3), website_id=website.pk
    )
    with CaptureQueriesContext(connection) as queries:
        days = selectors.ratings_by_day(two_days)
    assert len(queries) == 1
    assert [(day, s.count, s.average) for day, s in days] == [
        (dt.date(2026, 3, 2), 2, 4.5),
        (dt.date(2026, 3, 3), 1, 3.0),
    ]
    assert selectors.ratings_summary(selectors.ratings_given(since=day_one, until=day_one)).average is None


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_emails_an_unread_rating_request(celery_worker_factory):
    website = WebsiteFactory(conversation_ratings_enabled=True, email_unread_replies_after_minutes=0)  # no wait
    worker = celery_worker_factory(extra_env={"EMAIL_URL": "consolemail://"})
    conversation, teammate = _answered(website=website, contact=LeadFactory(email="lin@example.com"))
    services.conversation_close(conversation=conversation, teammate=teammate)
    worker.wait_for_log("Subject: How did we do? Where is my parcel?", timeout=60)
    worker.wait_until(
        lambda: ConversationRating.objects.get().emailed_at is not None, what="the request marked emailed"
    )


# --- reopening withdraws the request of the closure it ends ------------------------------------------


def _widget_post(client, conversation, path, payload):
    website = conversation.website
    token = widget_token_sign(contact_id=conversation.contact_id, website_id=website.pk)
    return client.post(f"/widget-api/{website.app_id}/conversations/{conversation.public_id}/{path}",
                       data=json.dumps({"token": token, **payload}), content_type="text/plain;charset=UTF-8",
                       HTTP_ORIGIN=ORIGIN)  # fmt: skip


def _api(teammate):
    teammate.is_superuser = True
    teammate.save(update_fields=["is_superuser"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=teammate, name='tests')[1]}")
    return client


def _contact_writes_in_the_messenger(client, conversation, teammate):
    assert _widget_post(client, conversation, "reply", {"body": "Still broken"}).status_code == 201


def _contact_answers_by_email(client, conversation, teammate):
    email = EmailMessage()
    email["From"], email["Subject"] = conversation.contact.email, "Re: your question"
    email["To"] = email_links.reply_address(conversation_id=conversation.pk)
    email.set_content("Still broken")
    assert client.post("/email/inbound", data=email.as_bytes(), content_type="message/rfc822").status_code == 201


def _contact_replies_through_the_api(client, conversation, teammate):
    response = _api(teammate).post(f"/api/conversations/{conversation.pk}/reply", {
        "message_type": "comment", "type": "user", "intercom_user_id": str(conversation.contact_id), "body": "Still",
    }, format="json")  # fmt: skip
    assert response.status_code == 200, response.content


def _teammate_reopens_on_the_conversation_page(client, conversation, teammate):
    client.force_login(teammate)
    teammate.is_superuser = True
    teammate.save(update_fields=["is_superuser"])
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    assert client.post(url, {"do": "reopen"}).status_code == 302


def _teammate_reopens_in_bulk_from_the_inbox(client, conversation, teammate):
    teammate.is_superuser = True
    teammate.save(update_fields=["is_superuser"])
    client.force_login(teammate)
    selected = {"action": "reopen_selected", "_selected_action": [conversation.pk]}
    inbox = reverse("admin:conversations_conversation_changelist") + "?view=closed"
    assert client.post(inbox, selected).status_code == 302


def _api_opens_it(client, conversation, teammate):
    response = _api(teammate).post(f"/api/conversations/{conversation.pk}/parts",
                                   {"message_type": "open", "admin_id": str(teammate.pk)}, format="json")  # fmt: skip
    assert response.status_code == 200, response.content


def _snoozed_until_its_time_comes(client, conversation, teammate):
    services.conversation_snooze(conversation=conversation, teammate=teammate,
                                 until=timezone.now() + dt.timedelta(hours=1))  # fmt: skip
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1, minutes=1), tick=False):
        assert services.conversations_reopen_due_snoozes() == 1


REOPENINGS = {
    "contact-messenger": _contact_writes_in_the_messenger,
    "contact-email": _contact_answers_by_email,
    "contact-api": _contact_replies_through_the_api,
    "teammate-page": _teammate_reopens_on_the_conversation_page,
    "teammate-bulk": _teammate_reopens_in_bulk_from_the_inbox,
    "api-open": _api_opens_it,
    "snooze-end": _snoozed_until_its_time_comes,
}


@pytest.mark.parametrize("answered", [False, True], ids=["unanswered", "answered"])
@pytest.mark.parametrize("reopen", REOPENINGS.values(), ids=REOPENINGS.keys())
def test_reopening_by_any_path_closes_the_request_of_the_closure_it_ends(client, reopen, answered):
    conversation, request = _closed(contact=LeadFactory(email="lin@example.com"))
    if answered:
        services.conversation_rating_give(request=request, rating=2, remark="Slow")
    conversation.refresh_from_db()
    reopen(client, conversation, TeammateFactory())

    conversation.refresh_from_db()
    request.refresh_from_db()
    assert conversation.state == Conversation.State.OPEN and request.withdrawn_at is not None
    assert not services.rating_status(request).is_open
    with pytest.raises(services.RatingClosed) as refused:
        services.conversation_rating_give(request=request, rating=5)
    assert refused.value.message_dict == {"rating": [ratings.RATING_WITHDRAWN]}
    # The messenger's answer: 409, its JSON naming the field.
    answer = _widget_post(client, conversation, "rating", {"request_id": str(request.pk), "rating": 5})
    assert answer.status_code == 409
    assert answer.json()["error"] == {"code": "rating_closed", "field": "rating", "message": ratings.RATING_WITHDRAWN}
    request.refresh_from_db()
    assert (request.rating, request.remark) == ((2, "Slow") if answered else (None, ""))


def test_snoozing_the_closed_conversation_already_ends_its_closure():
    conversation, request = _closed()
    services.conversation_snooze(conversation=conversation, teammate=None, until=timezone.now() + dt.timedelta(days=1))
    with pytest.raises(services.RatingClosed):
        services.conversation_rating_give(request=request, rating=4)


def test_closing_again_asks_again_and_the_withdrawn_request_stays_closed():
    conversation, first = _closed()
    services.conversation_reply_as_contact(conversation=conversation, body="One more thing")
    services.conversation_reply_and_close(conversation=conversation, teammate=TeammateFactory(), body="Done")
    second = ConversationRating.objects.exclude(pk=first.pk).get()
    assert services.conversation_rating_give(request=second, rating=5).rating == 5
    with pytest.raises(services.RatingClosed):
        services.conversation_rating_give(request=first, rating=5)
    first.refresh_from_db()
    assert first.withdrawn_at is not None and second.withdrawn_at is None


def test_an_expired_or_final_request_is_not_marked_withdrawn_by_a_later_reopen():
    conversation, request = _closed()
    later = timezone.now() + dt.timedelta(days=8)
    with time_machine.travel(later, tick=False):
        services.conversation_reopen(conversation=conversation, teammate=None)
    request.refresh_from_db()
    assert request.withdrawn_at is None  # it had expired: the page and the messenger keep saying so
