"""The admin's outbound flow: compose → preview for a real recipient → test to oneself → confirm the count
→ a read-only page per message with its stats and recipients. Tried as a viewer, an agent and with hostile text."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts import services as contact_services
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations import services
from conversations.models import Message, MessageDelivery
from tests.contacts.factories import TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:conversations_message_add")


def _member(group: str, username: str) -> Client:
    user = get_user_model().objects.create_user(
        username, f"{username}@parley.test", "x", is_staff=True, first_name=username.title()
    )
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def agent_client() -> Client:
    return _member(AGENT_GROUP, "robin")


@pytest.fixture
def viewer_client() -> Client:
    return _member(VIEWER_GROUP, "vera")


def _tagged(*names, email=True):
    tag = TagFactory(name="vip")
    contacts = []
    for name in names:
        contact = UserContactFactory(name=name, marketing_consent=True, **({} if email else {"email": ""}))
        contact_services.contact_tag(contact=contact, tag=tag)
        contacts.append(contact)
    return tag, contacts


def _draft(tag, **extra):
    return {"channel": "email", "subject": "News for {{contact.first_name}}",
            "body": 'Hi {{contact.first_name | fallback: "there"}}, see https://shop.example/sale', "tag": tag.pk,
            **extra}  # fmt: skip


def test_compose_previews_for_a_real_recipient_with_the_count_before_anything_is_sent(agent_client):
    tag, (_ada, bo) = _tagged("Ada Lovelace", "Bo Li")
    assert agent_client.get(ADD).status_code == 200
    preview = agent_client.post(ADD, _draft(tag))
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "Send to 2 contacts" in page
    assert "News for Ada" in page and "Hi Ada, see" in page  # rendered for the first recipient
    assert "{{contact.first_name" not in page.split('id="parley-preview"')[1].split("</div>")[0]
    assert "Send a test to me (robin@parley.test)" in page
    assert not Message.objects.exists() and mail.outbox == []

    as_bo = agent_client.post(ADD, {**_draft(tag), "preview_contact": bo.pk, "_preview": "Show"})
    assert "Hi Bo, see" in as_bo.content.decode()
    # Someone outside the audience is never rendered: the preview stays on a recipient.
    outsider = UserContactFactory(name="Zed Outsider")
    as_outsider = agent_client.post(ADD, {**_draft(tag), "preview_contact": outsider.pk})
    assert "Zed" not in as_outsider.content.decode()


def test_a_test_goes_to_the_teammate_only_and_the_confirmed_send_goes_to_everyone_once(agent_client):
    tag, (_ada, bo) = _tagged("Ada Lovelace", "Bo Li")
    preview = agent_client.post(ADD, _draft(tag))
    key = preview.context["idempotency_key"]

    test = agent_client.post(ADD, {**_draft(tag), "preview_contact": bo.pk, "idempotency_key": key, "_test": "1"})
    assert test.status_code == 200
    assert "Test sent to robin@parley.test, filled in for Bo Li." in test.content.decode()
    (test_email,) = mail.outbox
    assert test_email.to == ["robin@parley.test"] and test_email.subject == "[Test] News for Bo"
    assert not Message.objects.exists()

    confirm = {**_draft(tag), "idempotency_key": key, "expected_recipients": "2", "_send": "Send to 2 contacts"}
    sent = agent_client.post(ADD, confirm, follow=True)
    message = Message.objects.get()
    assert sent.redirect_chain[-1][0] == reverse("admin:conversations_message_change", args=[message.pk])
    assert "“News for” is being sent to 2 contacts." in sent.content.decode()  # no raw placeholder
    assert message.recipients_count == 2 and message.sender.username == "robin"
    agent_client.post(ADD, confirm)  # a second click sends nothing more
    assert Message.objects.count() == 1 and MessageDelivery.objects.count() == 2


def test_an_audience_that_changed_since_the_preview_is_shown_again_with_the_new_count(agent_client):
    tag, _ = _tagged("Ada Lovelace", "Bo Li")
    key = agent_client.post(ADD, _draft(tag)).context["idempotency_key"]
    contact_services.contact_tag(contact=UserContactFactory(name="Cy"), tag=tag)
    again = agent_client.post(ADD, {**_draft(tag), "idempotency_key": key, "expected_recipients": "2", "_send": "1"})
    assert again.status_code == 200
    page = again.content.decode()
    assert "it is now 3 contacts" in page and "Send to 3 contacts" in page
    assert not Message.objects.exists()


def test_edit_goes_back_to_the_form_with_what_was_written(agent_client):
    tag, _ = _tagged("Ada Lovelace")
    edit = agent_client.post(ADD, {**_draft(tag), "_edit": "Edit"})
    assert edit.status_code == 200
    assert edit.context["form"]["subject"].value() == "News for {{contact.first_name}}"
    assert b'name="_preview"' in edit.content


def test_an_in_app_test_is_shown_to_a_contact_the_teammate_names_and_the_real_send_stays_whole(agent_client):
    tag, (ada,) = _tagged("Ada Lovelace")
    robin = UserContactFactory(name="Robin Agent", email="robin@parley.test", marketing_consent=True)  # own contact
    draft = {"channel": "in_app", "subject": "", "body": "Hi {{contact.first_name}}!", "tag": tag.pk}
    preview = agent_client.post(ADD, draft)
    page = preview.content.decode()
    assert "Hi Ada!" in page and "Send to 1 contact" in page
    # The test box offers the teammate's own email: the contact they are on their site.
    assert 'name="test_contact" id="id_test_contact" value="robin@parley.test"' in page
    key = preview.context["idempotency_key"]

    test = agent_client.post(ADD, {**draft, "idempotency_key": key, "test_contact": "robin@parley.test", "_test": "1"})
    assert test.status_code == 200 and mail.outbox == []
    assert "Test sent to Robin Agent: their messenger shows it, marked as a test" in test.content.decode()
    (test_message,) = Message.objects.filter(is_test=True)
    assert list(test_message.deliveries.values_list("contact_id", flat=True)) == [robin.pk]
    # By id too; an unknown contact is said so, nothing recorded.
    agent_client.post(ADD, {**draft, "test_contact": str(ada.pk), "_test": "1"})
    assert Message.objects.filter(is_test=True).count() == 2
    unknown = agent_client.post(ADD, {**draft, "test_contact": "nobody@parley.test", "_test": "1"})
    assert "No contact with this id or email" in unknown.content.decode()
    assert Message.objects.filter(is_test=True).count() == 2

    # The real send afterwards, with the preview's key and count: the audience only, once.
    confirm = {**draft, "idempotency_key": key, "expected_recipients": "1", "_send": "Send to 1 contact"}
    sent = agent_client.post(ADD, confirm, follow=True)
    assert "is being sent to 1 contact." in sent.content.decode()
    real = Message.objects.get(is_test=False)
    assert real.recipients_count == 1 and list(real.deliveries.values_list("contact_id", flat=True)) == [ada.pk]
    listed = agent_client.get(reverse("admin:conversations_message_changelist")).content.decode()
    assert "[Test] Hi!" in listed and "Test to Robin Agent" in listed


def test_an_email_draft_has_no_test_contact_box_and_an_email_test_is_recorded_nowhere(agent_client):
    tag, _ = _tagged("Ada Lovelace")
    page = agent_client.post(ADD, _draft(tag)).content.decode()
    assert 'name="test_contact"' not in page


def test_a_sent_message_page_is_read_only_with_stats_and_a_paged_recipient_list(agent_client):
    tag, contacts = _tagged(*[f"Person {i}" for i in range(3)])
    message = services.message_send(sender=None, channel="email", subject="S", body="https://shop.example", tag=tag)
    while services.message_deliver_batch(message_id=message.pk)[1]:
        pass
    first = MessageDelivery.objects.order_by("id").first()
    services.delivery_record_click(delivery_id=first.pk, link_index=0)
    services.delivery_record_unsubscribe(delivery_id=first.pk)
    page_url = reverse("admin:conversations_message_change", args=[message.pk])

    page = agent_client.get(page_url)
    assert page.status_code == 200
    html = page.content.decode()
    stats = dict(re.findall(r'data-stat="(\w+)"><strong>(\d+)</strong>', html))
    assert stats == {"all": "3", "sent": "3", "pending": "0", "not_sent": "0", "not_tracked": "0", "opened": "1", "clicked": "1",
                     "unsubscribed": "1", "replied": "0"}  # fmt: skip
    assert all(c.name in html for c in contacts)
    assert 'name="_save"' not in html and "<textarea" not in html
    clicked = agent_client.get(page_url, {"show": "clicked"}).content.decode()
    assert "Person 0" in clicked and "Person 1" not in clicked

    # Saving it again (an old form, a replayed request) answers a clean page with a message, not a 403.
    posted = agent_client.post(page_url, {"subject": "changed"}, follow=True)
    assert posted.status_code == 200
    assert "A sent message cannot be changed" in posted.content.decode()
    message.refresh_from_db()
    assert message.subject == "S"


def test_the_recipient_list_costs_the_same_queries_for_3_or_60_recipients(agent_client):
    def queries_for(count: int) -> int:
        Message.objects.all().delete()
        contacts = UserContactFactory.create_batch(count)
        message = services.message_send(sender=None, channel="in_app", body="Hi", contact_ids=[c.pk for c in contacts])
        MessageDelivery.objects.filter(message=message).update(state="sent", sent_at=timezone.now())
        url = reverse("admin:conversations_message_change", args=[message.pk])
        agent_client.get(url)  # warm the session and content types
        with CaptureQueriesContext(connection) as captured:
            response = agent_client.get(url, {"p": "2"})
        assert response.status_code == 200
        return len(captured)

    assert queries_for(3) == queries_for(60)
    assert (
        "Page 2 of 2"
        in agent_client.get(
            reverse("admin:conversations_message_change", args=[Message.objects.get().pk]), {"p": "2"}
        ).content.decode()
    )


def test_a_viewer_can_read_sent_messages_but_neither_compose_nor_send(viewer_client):
    tag, _ = _tagged("Ada Lovelace")
    assert viewer_client.get(ADD).status_code == 403
    for step in ("_preview", "_test", "_send"):
        assert viewer_client.post(ADD, {**_draft(tag), step: "1", "expected_recipients": "1"}).status_code == 403
    assert not Message.objects.exists() and mail.outbox == []
    message = services.message_send(sender=None, channel="in_app", body="Hi", tag=tag)
    url = reverse("admin:conversations_message_change", args=[message.pk])
    assert viewer_client.get(url).status_code == 200
    posted = viewer_client.post(url, {"body": "x"}, follow=True)
    assert posted.status_code == 200 and "A sent message cannot be changed" in posted.content.decode()
    changelist = viewer_client.post(reverse("admin:contacts_contact_changelist"), {
        "action": "send_message_to_contacts", "_selected_action": [message.deliveries.get().contact_id],
        "compose": "yes", "channel": "in_app", "body": "Hi", "_send": "1",
    })  # fmt: skip
    assert changelist.status_code in (200, 302, 403)
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script><img src=x onerror=alert(2)>",
        '{{contact.name | fallback: "<b>x</b>"}}',
        '{{contact.name | fallback: "</textarea><script>alert(3)</script>"}}',
        "\U0001f600 {{ teammate.name }} &amp; \" ' `",
    ],
)
def test_hostile_text_in_subject_body_and_names_is_escaped_everywhere(agent_client, hostile):
    tag = TagFactory(name="<i>tag</i>")
    contact = UserContactFactory(name="<svg onload=alert(4)> Mallory", email="m@example.com")
    contact_services.contact_tag(contact=contact, tag=tag)
    draft = {"channel": "email", "subject": hostile[:200], "body": hostile, "tag": tag.pk}
    preview = agent_client.post(ADD, draft)
    assert preview.status_code == 200
    for page in (preview, agent_client.post(ADD, {**draft, "_edit": "1"})):
        html = page.content.decode()
        assert "<script>alert" not in html and "<svg onload" not in html and "<img src=x" not in html
        assert "<b>x</b>" not in html and "<i>tag</i>" not in html
    key = preview.context["idempotency_key"] if preview.context.get("idempotency_key") else "k"
    sent = agent_client.post(ADD, {**draft, "idempotency_key": key, "expected_recipients": "1", "_send": "1"},
                             follow=True)  # fmt: skip
    assert sent.status_code == 200
    html = sent.content.decode()
    assert "<script>alert" not in html and "<svg onload" not in html and "<b>x</b>" not in html


def test_nul_and_lone_surrogates_are_form_errors_never_500(agent_client):
    tag, _ = _tagged("Ada Lovelace")
    nul = agent_client.post(ADD, {**_draft(tag), "body": "Hi\x00there"})
    assert nul.status_code == 200 and not Message.objects.exists()
    # A lone surrogate cannot travel in UTF-8: sent raw, it arrives as U+FFFD and is shown, not a crash.
    for raw in (b"body=%ED%A0%80", b"subject=%ED%A0%80&body=x", b"subject=%00&body=%00"):
        response = agent_client.post(
            ADD, data=raw + f"&channel=email&tag={tag.pk}&_send=1&expected_recipients=1".encode(),
            content_type="application/x-www-form-urlencoded",
        )  # fmt: skip
        assert response.status_code in (200, 302), raw
    assert all("\ud800" not in m.body and "\x00" not in m.subject for m in Message.objects.all())
    unknown = agent_client.post(ADD, {**_draft(tag), "body": "{{contact.password}}"})
    assert unknown.status_code == 200 and "Unknown placeholder" in unknown.content.decode()
    bad_ids = agent_client.post(ADD, {"channel": "in_app", "body": "x", "contact_ids": "1,²"})
    assert bad_ids.status_code == 200 and "Only numeric contact ids" in bad_ids.content.decode()
    message = Message.objects.first() or services.message_send(sender=None, channel="in_app", body="x", tag=tag)
    url = reverse("admin:conversations_message_change", args=[message.pk])
    assert agent_client.get(f"{url}?show=%00").status_code == 400  # common.admin_guard: a NUL in the query
    for query in ("p=%C2%B2", "p=99999999999999999999", "show=%ED%A0%80", "p=-1", "show=__class__"):
        assert agent_client.get(f"{url}?{query}").status_code == 200


def test_the_preview_starts_with_a_named_contact_who_has_an_email(db):
    from contacts.models import Contact
    from conversations.selectors import message_audience
    from tests.contacts.factories import ContactFactory

    tag = TagFactory()
    anonymous = ContactFactory(email="", name="")
    named = UserContactFactory(name="Jamie Rivera", email="jamie@example.com")
    for contact in (anonymous, named):
        contact_services.contact_tag(contact=contact, tag=tag)

    audience = message_audience(contacts=Contact.objects.filter(tags=tag))

    assert audience.count == 2
    assert [contact.pk for contact in audience.sample] == [named.pk, anonymous.pk]


def test_a_message_can_go_to_a_segment_its_members_when_sent(agent_client):
    from segments import services as segment_services
    from segments.models import Segment

    french = [UserContactFactory(name=name, country="FR") for name in ("Ada Lovelace", "Bo Li")]
    UserContactFactory(country="DE")
    segment = segment_services.segment_create(
        name="France", query={"field": "location.country_code", "operator": "=", "value": "FR"}, teammate=None
    )
    draft = {"channel": "email", "subject": "Bonjour", "body": "Hi", "segment": segment.pk}
    preview = agent_client.post(ADD, draft)
    assert preview.status_code == 200 and "Segment “France”" in preview.content.decode()
    key = preview.context["idempotency_key"]
    sent = agent_client.post(ADD, {**draft, "idempotency_key": key, "expected_recipients": "2", "_send": "1"})
    assert sent.status_code == 302
    message = Message.objects.get()
    assert message.audience == "Segment: France"
    assert set(MessageDelivery.objects.values_list("contact_id", flat=True)) == {c.pk for c in french}
    both = agent_client.post(ADD, {**draft, "tag": TagFactory().pk})
    assert "Choose a tag or a segment, not both." in both.content.decode()
    assert Segment.objects.count() == 1


@pytest.mark.parametrize(
    ("subject", "body", "title"),
    [
        (
            "",
            'Hi {{contact.first_name | fallback: "friend"}}, our winter sale starts on Monday with big discounts on boots',
            "Hi friend, our winter sale starts on Monday with big…",
        ),
        ("", "Hi {{contact.first_name}}, news!", "Hi, news!"),
        ("Winter sale for {{ contact.name }}", "whatever", "Winter sale for"),
        ("", "x" * 80, "x" * 60 + "…"),
    ],
)
def test_a_message_is_named_by_a_clean_excerpt_cut_at_a_word_with_an_ellipsis(subject, body, title):
    """Titles, breadcrumbs and notices name a message: never a raw placeholder or a word cut in half."""
    assert str(Message(subject=subject, body=body)) == title


def test_the_sent_message_page_names_it_without_raw_placeholders(admin_client):
    message = Message.objects.create(
        channel=Message.Channel.IN_APP, state=Message.State.SENT,
        body='Hi {{contact.first_name | fallback: "friend"}}, our winter sale starts on Monday with big discounts',
    )  # fmt: skip
    page = admin_client.get(reverse("admin:conversations_message_change", args=[message.pk])).content.decode()
    assert "Hi friend, our winter sale starts on Monday with big…" in page
    assert "winter s”" not in page and "{{contact.first_name" not in page.split('class="parley-body"')[0]


def test_the_previews_email_count_is_what_the_send_emails(agent_client):
    """One rule (conversations.selectors.EMAIL_SKIP_RULES) for the count and the send: restricted skipped too."""
    tag, (ada, bo, cy, _dee) = _tagged("Ada Lovelace", "Bo Li", "Cy Young", "Dee Dee")
    contact_services.contact_processing_restrict(contact=ada, restricted=True)
    type(bo).objects.filter(pk=bo.pk).update(unsubscribed_from_emails=True)
    type(cy).objects.filter(pk=cy.pk).update(email="")

    page = agent_client.post(ADD, _draft(tag)).content.decode()
    assert "4 contacts</strong>, 1 of whom can get email" in page

    message = services.message_send(sender=None, channel="email", subject="News", body="Hi", tag=tag)
    while services.message_deliver_batch(message_id=message.pk)[1]:
        pass
    assert len(mail.outbox) == 1
    reasons = dict(message.deliveries.values_list("contact__name", "skip_reason"))
    assert reasons["Ada Lovelace"] == "processing restricted" and reasons["Cy Young"] == "no email address"


def test_an_in_app_message_skips_a_restricted_contact_with_the_reason(agent_client):
    tag, (ada, _bo) = _tagged("Ada Lovelace", "Bo Li")
    contact_services.contact_processing_restrict(contact=ada, restricted=True)

    page = agent_client.post(ADD, {"channel": "in_app", "body": "Hello", "tag": tag.pk}).content.decode()
    assert "2 contacts</strong>, 1 of whom will see it" in page

    message = services.message_send(sender=None, channel="in_app", body="Hello", tag=tag)
    services.message_deliver_batch(message_id=message.pk)
    states = {d.contact.name: (d.state, d.skip_reason) for d in message.deliveries.select_related("contact")}
    assert states["Ada Lovelace"] == (MessageDelivery.State.SKIPPED, "processing restricted")
    assert states["Bo Li"][0] == MessageDelivery.State.SENT


def test_stats_tell_untracked_recipients_apart_from_unopened_ones_and_the_hint_says_when_links_are_tracked(
    agent_client,
):
    tag, (ada, _bo) = _tagged("Ada Lovelace", "Bo Li")
    type(ada).objects.filter(pk=ada.pk).update(marketing_consent=False)
    hint = agent_client.get(ADD).content.decode()
    assert "Links in emails are tracked" not in hint and "only for contacts who gave marketing consent" in hint

    message = services.message_send(sender=None, channel="email", subject="News", body="Hi", tag=tag)
    while services.message_deliver_batch(message_id=message.pk)[1]:
        pass
    assert dict(message.deliveries.values_list("contact__name", "tracked")) == {"Ada Lovelace": False, "Bo Li": True}
    page = agent_client.get(reverse("admin:conversations_message_change", args=[message.pk])).content.decode()
    assert "Not tracked (no marketing consent)" in page and "not tracked (no marketing consent)</td>" in page
    untracked = agent_client.get(reverse("admin:conversations_message_change", args=[message.pk]) + "?show=not_tracked")
    assert "Ada Lovelace" in untracked.content.decode() and "Bo Li" not in untracked.content.decode()


def test_in_app_tells_the_truth_about_contacts_without_marketing_consent(agent_client):
    """Issue 12 walk: the preview said "Send to 1 contact", the test "their messenger shows it", the stats
    "Sent 1", while the messenger showed nothing (in-app is marketing; no consent, no legitimate interest)."""
    from conversations.services.in_app import in_app_messages_pending

    tag, (ada, bo) = _tagged("Ada Lovelace", "Bo Li")
    type(ada).objects.filter(pk=ada.pk).update(marketing_consent=None)  # never chose; no legitimate-interest site
    draft = {"channel": "in_app", "body": "Free shipping this week", "tag": tag.pk}

    page = agent_client.post(ADD, draft).content.decode()
    assert "2 contacts</strong>, 1 of whom will see it (skipped: 1 no marketing consent)" in page
    assert 'id="parley-in-app-rule"' in page

    test = agent_client.post(ADD, {**draft, "test_contact": str(ada.pk), "_test": "1"}).content.decode()
    assert "Not shown to Ada Lovelace: no marketing consent." in test and "their messenger shows it" not in test
    assert in_app_messages_pending(contact=ada) == []

    message = services.message_send(sender=None, channel="in_app", body="Free shipping this week", tag=tag)
    services.message_deliver_batch(message_id=message.pk)
    states = {d.contact.name: (d.state, d.skip_reason) for d in message.deliveries.select_related("contact")}
    assert states == {"Ada Lovelace": ("skipped", "no marketing consent"), "Bo Li": ("sent", "")}
    stats = agent_client.get(reverse("admin:conversations_message_change", args=[message.pk])).content.decode()
    assert "Skipped (no marketing consent)" in stats
    assert [m["body"] for m in in_app_messages_pending(contact=bo)] == ["Free shipping this week"]


def test_in_app_reaches_contacts_without_a_choice_on_a_legitimate_interest_website(agent_client):
    from tracking.models import WebSession, Website
    from tracking.services import website_create

    tag, (ada,) = _tagged("Ada Lovelace")
    type(ada).objects.filter(pk=ada.pk).update(marketing_consent=None)
    website = website_create(name="Shop", allowed_origins=["https://shop.example"])
    Website.objects.filter(pk=website.pk).update(marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST)
    WebSession.objects.create(contact=ada, website=website, started_at=timezone.now(), last_activity_at=timezone.now())
    page = agent_client.post(ADD, {"channel": "in_app", "body": "Hi", "tag": tag.pk}).content.decode()
    assert "1 contact</strong>." in page and "skipped" not in page.split("parley-audience")[1][:300]


def test_a_teammate_reply_in_a_conversation_is_support_and_shows_without_marketing_consent():
    from conversations.models import Conversation
    from tests.conversations.factories import TeammateFactory

    ada = UserContactFactory(name="Ada", marketing_consent=False)
    conversation = services.conversation_start_by_contact(contact=ada, body="Help?")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Sure")
    assert Conversation.objects.get().contact_unread_count == 1
    assert list(conversation.parts.values_list("body", flat=True)) == ["Help?", "Sure"]


def test_the_compose_form_shows_every_problem_at_once_in_the_admins_own_form_markup(agent_client):
    """Issue 12 walk: the preview showed only the first of several errors; the form was unstyled."""
    page = agent_client.post(
        ADD, {"channel": "email", "subject": "", "body": "Hi {{contact.shoe_size}}", "_preview": "Preview"}
    ).content.decode()
    assert "An email needs a subject." in page
    assert "Unknown placeholder {{contact.shoe_size}}" in page
    assert "Choose a tag or a segment, or enter contact ids." in page
    assert "Please correct the errors below." in page
    assert page.count('class="errorlist') >= 3
    assert 'class="flex-container"' in page and 'class="vLargeTextField"' in page
    assert not Message.objects.exists()


def test_a_draft_with_several_problems_is_refused_naming_each_field():
    from django.core.exceptions import ValidationError

    from conversations.services.outbound import message_draft_clean

    with pytest.raises(ValidationError) as refused:
        message_draft_clean(channel="email", subject="", body="see https://x.example/{{contact.email}}")
    assert set(refused.value.message_dict) == {"subject", "body"}


def test_the_send_confirmation_says_how_many_will_get_it_as_the_button_did(agent_client):
    """New-user walk: "Send: 1 of 2 will get it" was confirmed as "is being sent to 2 contacts"."""
    tag, (_ada, bo) = _tagged("Ada Lovelace", "Bo Li")
    bo.email = ""
    bo.save(update_fields=["email"])
    preview = agent_client.post(ADD, _draft(tag))
    assert "Send: 1 of 2 will get it" in preview.content.decode()
    confirm = {**_draft(tag), "idempotency_key": preview.context["idempotency_key"], "expected_recipients": "2",
               "_send": "Send: 1 of 2 will get it"}  # fmt: skip
    sent = agent_client.post(ADD, confirm, follow=True).content.decode()
    assert "“News for” is being sent: 1 of 2 contacts will get it (its stats say why not the others)." in sent

    # The contact list's action says it the same way (it said "Message queued for 2 contacts").
    changelist = reverse("admin:contacts_contact_changelist")
    draft = {"action": "send_message_to_contacts", "_selected_action": [_ada.pk, bo.pk], "compose": "yes",
             "channel": "email", "subject": "Hi", "body": "Hello!"}  # fmt: skip
    preview = agent_client.post(changelist, draft)
    assert "Send: 1 of 2 will get it" in preview.content.decode()
    payload = {**draft, "idempotency_key": preview.context["idempotency_key"], "expected_recipients": "2",
               "_send": "Send"}  # fmt: skip
    sent = agent_client.post(changelist, payload, follow=True).content.decode()
    assert "“Hi” is being sent: 1 of 2 contacts will get it (its stats say why not the others)." in sent


def test_the_email_preview_shows_the_from_address_sign_off_and_footer_the_email_has(agent_client, settings):
    """New-user walk: the preview said "From Sam" and showed neither the sign-off nor the unsubscribe footer, while the
    email came from the support address, signed "— Sam" (a body ending in {{teammate.name}} signed twice, unseen)."""
    settings.DEFAULT_FROM_EMAIL = "Acme Support <support@acme.example>"
    tag, (ada,) = _tagged("Ada Lovelace")
    preview = agent_client.post(ADD, _draft(tag, body="Hi {{contact.first_name}}!\n\n{{teammate.name}}"))
    shown = re.search(r'<div class="parley-preview" id="parley-preview">(.*?)<details>', preview.content.decode(), re.S)
    html = shown.group(1)
    assert "From Acme Support &lt;support@acme.example&gt; · to " + ada.email in html
    sender = "Robin"
    assert html.count(sender) == 2  # the body's own sign-off and the email's: the teammate sees both
    assert "— " + sender in html and "Unsubscribe</u> from these emails." in html

    confirm = {**_draft(tag, body="Hi {{contact.first_name}}!\n\n{{teammate.name}}"), "_send": "Send",
               "idempotency_key": preview.context["idempotency_key"], "expected_recipients": "1"}  # fmt: skip
    agent_client.post(ADD, confirm)
    message = Message.objects.get()
    while services.message_deliver_batch(message_id=message.pk)[1]:
        pass
    [email] = mail.outbox
    assert email.from_email == "Acme Support <support@acme.example>"
    sent = next(content for content, kind in email.alternatives if kind == "text/html")
    assert sent.count(sender) == 2 and "— " + sender in sent and "Unsubscribe</a> from these emails." in sent
