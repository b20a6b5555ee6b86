"""The admin's times in the teammate's own time zone (the one their browser names), not UTC unsaid: a teammate in
Tokyo read "07:48" for a message that came at 16:48 their time, and a snooze typed as 17:00 ended at 17:00 UTC."""

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from config.middleware import TIME_ZONE_COOKIE
from conversations import services
from tests.contacts.factories import LeadFactory

pytestmark = pytest.mark.django_db
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def _conversation_page(admin_client):
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hello")
    return conversation, reverse("admin:conversations_conversation_change", args=[conversation.pk])


def _meta_time(moment: dt.datetime) -> str:
    return f"· {moment:%b %d, %H:%M}</div>"


def test_the_admin_shows_a_message_at_the_time_of_the_teammates_time_zone(admin_client):
    conversation, url = _conversation_page(admin_client)
    sent = conversation.parts.get().created_at
    assert _meta_time(sent.astimezone(dt.UTC)) in admin_client.get(url).content.decode()  # until the browser said
    admin_client.cookies[TIME_ZONE_COOKIE] = "Asia/Tokyo"
    page = admin_client.get(url).content.decode()
    assert _meta_time(sent.astimezone(TOKYO)) in page
    assert '<script src="/static/parley/admin/time_zone.js"></script>' in page


@pytest.mark.parametrize(
    "hostile", ["../../../etc/passwd", "/etc/localtime", "Asia/Tokyo\x00", "x" * 5000, "", "asia/tokyo"]
)
def test_a_cookie_that_names_no_time_zone_leaves_the_admin_in_utc(admin_client, hostile):
    conversation, url = _conversation_page(admin_client)
    admin_client.cookies[TIME_ZONE_COOKIE] = hostile
    response = admin_client.get(url)
    assert response.status_code == 200
    assert _meta_time(conversation.parts.get().created_at.astimezone(dt.UTC)) in response.content.decode()


def test_a_snooze_ends_at_the_time_the_teammate_meant_in_their_time_zone(admin_client):
    conversation, url = _conversation_page(admin_client)
    admin_client.cookies[TIME_ZONE_COOKIE] = "Asia/Tokyo"
    admin_client.post(url, {"do": "snooze", "snoozed_until": "2031-01-05T17:00"})
    conversation.refresh_from_db()
    assert conversation.snoozed_until == dt.datetime(2031, 1, 5, 8, 0, tzinfo=dt.UTC)  # 17:00 in Tokyo

    services.conversation_reopen(conversation=conversation, teammate=None)
    admin_client.post(url, {"do": "snooze", "snooze_for": "tomorrow"})
    conversation.refresh_from_db()
    tomorrow = timezone.localtime(timezone.now(), TOKYO).date() + dt.timedelta(days=1)
    assert timezone.localtime(conversation.snoozed_until, TOKYO).replace(tzinfo=None) == dt.datetime.combine(
        tomorrow, dt.time(9)
    )
    assert "Tomorrow 09:00</option>" in admin_client.get(url).content.decode()


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "Etc/GMT+12", "UTC"])
def test_a_snooze_in_year_9999_is_refused_on_its_field_and_the_page_still_opens(admin_client, zone):
    """The attack review: a snooze until 9999-12-31 23:59 made the page answer 400 in every zone east of UTC, where the
    moment has no local time: nobody there could open the conversation to undo it."""
    conversation, url = _conversation_page(admin_client)
    admin_client.cookies[TIME_ZONE_COOKIE] = zone
    answer = admin_client.post(url, {"do": "snooze", "snoozed_until": "9999-12-31T23:59"}, follow=True)
    assert answer.status_code == 200
    assert "Pick a time before the year 9999." in answer.content.decode() or "Enter a date and time." in (
        answer.content.decode()
    )
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None
    assert admin_client.get(url).status_code == 200


def test_the_conversation_attributes_show_labels_and_values_in_words_in_the_teammates_time_zone(admin_client):
    """A walk: the box listed names and stored text ("followup_at 2027-03-02T09:30:00+00:00", "refunded True")."""
    from contacts.models import DataAttribute
    from tests.contacts.factories import DataAttributeFactory

    conversation, url = _conversation_page(admin_client)
    kinds = DataAttribute.DataType
    for name, label, kind in [
        ("followup_at", "Follow-up at", kinds.DATETIME),
        ("refunded", "Refund issued", kinds.BOOLEAN),
    ]:
        DataAttributeFactory(name=name, label=label, data_type=kind, model=DataAttribute.Model.CONVERSATION)
    values = {"followup_at": "2027-03-02T09:30:00+00:00", "refunded": True}
    services.conversation_update(conversation=conversation, custom_attributes=values)
    # A value whose definition was deleted since (stored directly: the services refuse an undefined name).
    type(conversation).objects.filter(pk=conversation.pk).update(
        custom_attributes={**values, "legacy_code": "<b>A-7</b>"}
    )
    admin_client.cookies[TIME_ZONE_COOKIE] = "Asia/Tokyo"

    page = admin_client.get(url).content.decode()

    box = page.split('<dl id="parley-conversation-attributes">')[1].split("</dl>")[0].strip()
    assert box == (
        "<dt>Follow-up at</dt><dd>Mar 02, 2027 18:30</dd>"
        "<dt>legacy_code</dt><dd>&lt;b&gt;A-7&lt;/b&gt;</dd>"  # no definition left: its name, its value as text
        "<dt>Refund issued</dt><dd>Yes</dd>"
    )


def test_every_admin_page_says_which_time_zone_its_times_are_in(admin_client):
    """A walk: times in the teammate's zone, but nothing on the page said which."""
    url = reverse("admin:conversations_conversation_changelist")
    assert '<span id="parley-time-zone" title="' in admin_client.get(url).content.decode()
    assert ">Times in UTC</span>" in admin_client.get(url).content.decode()  # until the browser said
    admin_client.cookies[TIME_ZONE_COOKIE] = "Asia/Tokyo"
    assert ">Times in Asia/Tokyo</span>" in admin_client.get(url).content.decode()


@pytest.mark.parametrize(
    ("zone", "typed", "result"),
    [
        ("Europe/Berlin", "2027-10-31T02:30", dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)),  # twice: the first
        ("America/New_York", "2027-11-07T01:30", dt.datetime(2027, 11, 7, 5, 30, tzinfo=dt.UTC)),
        (
            "Europe/Berlin",
            "2027-03-28T02:30",
            "Snoozed until: There is no 02:30 on Mar 28 in Europe/Berlin: the clocks",
        ),
        ("Asia/Tokyo", "0001-01-01T00:00", "Snoozed until: Pick a time in the future."),
    ],
)
def test_a_snooze_typed_in_the_hour_the_clocks_change(admin_client, zone, typed, result):
    """A re-check: a time the clocks go back over, which comes twice, and one they skip were both "Enter a date and
    time."; the first is now its first moment, the second is refused by name."""
    conversation, url = _conversation_page(admin_client)
    admin_client.cookies[TIME_ZONE_COOKIE] = zone
    response = admin_client.post(url, {"do": "snooze", "snoozed_until": typed}, follow=True)
    conversation.refresh_from_db()
    if isinstance(result, dt.datetime):
        assert conversation.snoozed_until == result
    else:
        shown = [str(message) for message in response.context["messages"]]
        assert len(shown) == 1 and shown[0].startswith(result), shown
        assert conversation.snoozed_until is None
