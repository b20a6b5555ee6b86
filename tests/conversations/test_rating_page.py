"""The email channel's rating page: no login, a signed link naming exactly one closure's request, expiring;
hostile, forged, foreign-purpose and expired links answer a clear page (never a 500), and only POST records."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import PrivacyAuditEntry
from conversations import email_links, services
from conversations.models import ConversationRating
from tests.contacts.factories import LeadFactory
from tests.conversations.factories import TeammateFactory
from tests.tracking.factories import WebsiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_row():
    website = WebsiteFactory(name="Acme Shop", conversation_ratings_enabled=True)
    conversation = services.conversation_start_by_contact(contact=LeadFactory(email="lin@example.com"),
                                                          body="Where is my parcel?", website=website)  # fmt: skip
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Shipped")
    services.conversation_close(conversation=conversation, teammate=None)
    return ConversationRating.objects.get()


def _path(url):
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def _csrf_client():
    return Client(enforce_csrf_checks=True)


def _post(client, url, data):
    """A browser's post: the page's form, with the CSRF token the page set."""
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(url, {**data, "csrfmiddlewaretoken": token})


def test_the_emailed_links_open_the_page_preselected_and_only_a_post_records(request_row):
    assert services.conversation_rating_email_send(rating_id=request_row.pk)
    links = re.findall(r"^(\d)/5: (\S+)$", mail.outbox[0].body, flags=re.MULTILINE)
    assert [score for score, _ in links] == ["5", "4", "3", "2", "1"]
    four = _path(dict(links)["4"])
    client = _csrf_client()

    page = client.get(four)  # what a link scanner or the contact's click fetches
    assert page.status_code == 200 and page["X-Robots-Tag"] == "noindex"
    html = page.content.decode()
    assert "How would you rate your conversation with Acme Shop?" in html
    assert 'id="rating-4" value="4" checked' in html
    assert ConversationRating.objects.get().rating is None  # a GET records nothing

    done = _post(client, four, {"rating": "4", "remark": "Friendly <b>and</b> fast"})
    assert done.status_code == 200
    assert "Thank you! You rated 4/5" in done.content.decode()
    assert "Friendly &lt;b&gt;and&lt;/b&gt; fast" in done.content.decode()
    assert (ConversationRating.objects.get().rating, ConversationRating.objects.get().remark) == (
        4, "Friendly <b>and</b> fast"
    )  # fmt: skip
    changed = _post(client, four, {"rating": "2", "remark": ""})
    assert "You rated 2/5" in changed.content.decode()


def test_a_post_without_the_pages_csrf_token_is_refused(request_row):
    url = _path(email_links.rating_url(request_row.pk))
    assert _csrf_client().post(url, {"rating": "5"}).status_code == 403
    assert ConversationRating.objects.get().rating is None


@pytest.mark.parametrize("value", ["", "5.0", "\u0665", "0", "6", "1e400", "true", "five", "5\x00"])
def test_a_rating_that_is_not_1_to_5_is_refused_on_the_page(request_row, value):
    url = _path(email_links.rating_url(request_row.pk))
    response = _post(_csrf_client(), url, {"rating": value, "remark": "kept in the form"})
    assert response.status_code == 400
    assert "Must be a whole number from 1 to 5." in response.content.decode()
    assert "kept in the form" in response.content.decode()
    assert ConversationRating.objects.get().rating is None


@pytest.mark.parametrize(("remark", "problem"), [("a\x00b", "NUL"), ("x" * 2001, "at most 2000")])
def test_a_hostile_remark_is_refused_on_the_page(request_row, remark, problem):
    url = _path(email_links.rating_url(request_row.pk))
    response = _post(_csrf_client(), url, {"rating": "3", "remark": remark})
    assert response.status_code == 400 and problem in response.content.decode()


@pytest.mark.parametrize(
    "token",
    ["x", "1:abc:def", "1" * 500, "%00", "%2e%2e", "<script>", "\u202e1", "1:1a2b3c:" + "A" * 43,
     signing.TimestampSigner(salt="parley.email-unsubscribe").sign("1"),  # another purpose's signature
     signing.TimestampSigner(salt=email_links.RATING_SALT, key="not the secret").sign("1")],  # forged
)  # fmt: skip
def test_forged_or_hostile_links_answer_a_clear_page(client, request_row, token):
    response = client.get(f"/e/r/{token}")
    assert response.status_code == 404
    assert "This rating link is not valid" in response.content.decode()
    post = client.post(f"/e/r/{token}", {"rating": "5"})
    assert post.status_code in (403, 404)  # CSRF first for a browser without the page, else the same page
    assert ConversationRating.objects.get().rating is None


def test_a_link_to_a_row_that_is_gone_says_it_is_not_valid(client, request_row):
    url = _path(email_links.rating_url(request_row.pk))
    contact_services.contact_erase(contact=request_row.contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN)
    response = client.get(url)
    assert response.status_code == 404 and "This rating link is not valid" in response.content.decode()


def test_an_expired_link_says_so(client, request_row):
    url = _path(email_links.rating_url(request_row.pk))
    with time_machine.travel(timezone.now() + dt.timedelta(days=8, seconds=1), tick=False):
        response = client.get(url)
    assert response.status_code == 410 and "This rating link has expired" in response.content.decode()


def test_after_a_week_unanswered_the_request_has_expired(client, request_row):
    url = _path(email_links.rating_url(request_row.pk))
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, minutes=1), tick=False):
        response = client.get(url)
    assert response.status_code == 410 and "This rating request has expired" in response.content.decode()


def test_after_24_hours_the_rating_is_read_only_and_the_page_says_it_clearly(request_row):
    url = _path(email_links.rating_url(request_row.pk))
    client = _csrf_client()
    _post(client, url, {"rating": "3", "remark": "Fine"})
    with time_machine.travel(timezone.now() + dt.timedelta(hours=24, seconds=1), tick=False):
        shown = client.get(url)
        assert shown.status_code == 200
        html = shown.content.decode()
        assert "Your rating: 3/5" in html and "Fine" in html and "<form" not in html
        assert "This rating can no longer be changed" in html
    # A form kept open across the 24 hours and sent late: refused, said clearly, nothing changed.
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=24, seconds=1), tick=False):
        late = client.post(url, {"rating": "5", "csrfmiddlewaretoken": token})
    assert late.status_code == 409 and "can no longer be changed" in late.content.decode()
    assert ConversationRating.objects.get().rating == 3


@pytest.mark.parametrize("answered", [False, True], ids=["unanswered", "answered"])
def test_once_the_conversation_reopens_the_page_says_the_request_is_closed(request_row, answered):
    url = _path(email_links.rating_url(request_row.pk))
    client = _csrf_client()
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    if answered:
        assert client.post(url, {"rating": "4", "remark": "Quick", "csrfmiddlewaretoken": token}).status_code == 200
    services.conversation_reply_as_contact(conversation=request_row.conversation, body="It broke again")

    shown = client.get(url)
    assert shown.status_code == (200 if answered else 410)
    html = shown.content.decode()
    assert "This rating request is closed" in html and "opened again" in html and "<form" not in html
    assert ("Your rating: 4/5" in html) == answered
    late = client.post(url, {"rating": "1", "csrfmiddlewaretoken": token})  # the form, kept open in a tab
    assert late.status_code == 409 and 'role="alert"' in late.content.decode()
    assert ConversationRating.objects.get().rating == (4 if answered else None)


class _Sender:
    """A browser at one address with the page's form (its CSRF token) loaded."""

    def __init__(self, url: str, address: str) -> None:
        self.url, self.client = url, Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
        page = self.client.get(url)
        self.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)

    def post(self, rating: str) -> int:
        return self.client.post(self.url, {"rating": rating, "csrfmiddlewaretoken": self.token}).status_code


def test_a_link_holders_bad_posts_never_lock_the_contact_out(mid_window_clock, request_row):
    url = _path(email_links.rating_url(request_row.pk))
    holder = _Sender(url, "203.0.113.9")  # the link forwarded, or leaked
    answers = [holder.post("9") for _ in range(30)]
    assert answers[:10] == [400] * 10 and set(answers[10:]) == {429}  # they slow only themselves down
    contact = _Sender(url, "198.51.100.7")
    assert contact.post("4") == 200
    assert ConversationRating.objects.get().rating == 4


def test_one_sender_cannot_use_up_the_requests_answers(mid_window_clock, request_row):
    url = _path(email_links.rating_url(request_row.pk))
    flooder = _Sender(url, "203.0.113.9")
    assert [flooder.post("1") for _ in range(11)] == [200] * 10 + [429]
    assert _Sender(url, "198.51.100.7").post("5") == 200
    assert ConversationRating.objects.get().rating == 5


def test_the_requests_answers_are_limited_whoever_sends_them(mid_window_clock, request_row):
    url = _path(email_links.rating_url(request_row.pk))
    for sender in range(4):
        browser = _Sender(url, f"203.0.113.{sender + 1}")
        assert [browser.post(str(score)) for score in (1, 2, 3, 4, 3)] == [200] * 5
    assert _Sender(url, "198.51.100.7").post("5") == 429  # 20 answers this minute already
    assert ConversationRating.objects.get().rating == 3


def test_only_get_and_post(client, request_row):
    url = reverse("conversations:rating_page", args=[email_links.rating_token(request_row.pk)])
    assert client.put(url).status_code == 405
