"""Hypothesis fuzzing of every public endpoint: the widget API and the email links and inbound.

Random JSON, wrong types, huge strings, deep nesting, NUL, lone surrogates, non-finite numbers and
odd path segments: no server error, and every refusal is a 4xx with a JSON error. The number of
cases per endpoint is printed at the end of the run (tests/security/conftest.py).
"""

import json
import os
import time
import uuid
from email.message import EmailMessage
from urllib.parse import quote, urlsplit

import pytest
from django.core import mail
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contacts.models import Contact
from conversations import email_links, services
from tests.contacts.factories import ContactFactory, UserContactFactory
from tests.conversations.factories import TeammateFactory
from tests.security.conftest import fuzz_record
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"
# Bounded so that the suite stays fast in CI; raise it for a longer hunt (PARLEY_FUZZ_EXAMPLES=2000).
EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written under the checkout; a failure prints its reproducing example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- strategies ---------------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "\x00", "a\x00b", "\ud800", "x\udfffy", "²", "٣", "1e400", "NaN", "-0", "", " ", "null", "true",
    "9" * 40, "https://shop.example/\x00", "javascript:alert(1)", "<script>alert(1)</script>", "%00", "../../etc",
]  # fmt: skip
HOSTILE_NUMBERS = [2**63, -(2**63) - 1, 10**30, -1, 0, 2**31, 1.5, -0.0, 1e308, float("inf"), float("nan")]

# Surrogates (category Cs) are left in on purpose: json.dumps writes them as \udXXX escapes.
text = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=30),
    st.sampled_from(HOSTILE_STRINGS),
    st.integers(min_value=256, max_value=70_000).map(lambda n: "x" * n),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HOSTILE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=10,
)


def _dump(value, huge_literals):
    raw = json.dumps(value, ensure_ascii=True, allow_nan=True)
    # Python writes an infinite float as Infinity (not JSON); 1e400 is valid JSON that decodes to one.
    return raw.replace("-Infinity", "-1e400").replace("Infinity", "1e400") if huge_literals else raw


def _set_path(template, path, value):
    body = json.loads(json.dumps(template))
    *parents, last = path.split(".")
    node = body
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[last] = value
    return body


def body_strategy(template, paths):
    """Raw request bodies: the template with one field replaced, random JSON, bytes, deep nesting."""
    mutated = st.builds(_set_path, st.just(template), st.sampled_from([*paths, "unknown_field"]), json_values)
    several = st.builds(
        lambda first, second: _set_path(_set_path(template, *first), *second),
        st.tuples(st.sampled_from(paths), json_values),
        st.tuples(st.sampled_from(paths), json_values),
    )
    as_json = st.one_of(st.just(template), mutated, mutated, several, json_values).flatmap(
        lambda value: st.booleans().map(lambda huge: _dump(value, huge))
    )
    depth = st.integers(min_value=50, max_value=5000)
    nesting = st.one_of(
        depth.map(lambda n: "[" * n + "]" * n),
        depth.map(lambda n: '{"a":' * n + "1" + "}" * n),
        depth.map(lambda n: '{"user": ' + '{"custom_attributes": ' * n + "{}" + "}" * (n + 1)),
    )
    raw_bytes = st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
    return st.one_of(as_json, as_json, as_json, nesting, raw_bytes)


def mostly(usual, other, *, percent=80):
    """The usual value most of the time (so that cases reach past the first check), else the other strategy."""
    return st.integers(min_value=1, max_value=100).flatmap(lambda n: st.just(usual) if n <= percent else other)


def segment_strategy(real):
    """A path segment: the real one, or random text percent-encoded (invalid UTF-8 included)."""
    odd = st.one_of(text, st.sampled_from(HOSTILE_STRINGS)).map(
        lambda s: quote(s[:300].encode("utf-8", "surrogatepass"), safe="")
    )
    return mostly(real, odd)


content_types = st.sampled_from(
    [*["text/plain;charset=UTF-8"] * 8, "text/plain;charset=UTF-8", "application/json", "", "application/x-www-form-urlencoded", "image/png",
     "multipart/form-data; boundary=xyz", "text/plain; charset=latin-1"]
)  # fmt: skip
origins = st.sampled_from([*[ORIGIN] * 8, None, "https://evil.example", "null", "https://shop.example\x00"])


# --- checks -------------------------------------------------------------------------------------


def assert_refusal_is_json(name, response, *, allow_non_json_success=False):
    status = response.status_code
    fuzz_record(name, status)
    import os

    if os.environ.get("FUZZ_DEBUG") and status >= 400 and response.wsgi_request.method != "HEAD":
        print(name, status, response.content[:150])
    content = response.content[:400]
    assert status < 500, (status, content)
    if status >= 400:
        assert response["Content-Type"].startswith("application/json"), (status, content)
        if response.wsgi_request.method == "HEAD":
            return  # no body in an answer to HEAD
        body = json.loads(response.content)
        assert isinstance(body.get("error"), dict) and body["error"].get("code"), body
    elif not allow_non_json_success:
        assert response["Content-Type"].startswith("application/json"), (status, content)


def _request(client, method, path, *, body=None, content_type="text/plain;charset=UTF-8", origin=ORIGIN, query=None):
    extra = {"HTTP_ORIGIN": origin} if origin else {}
    if query:
        path = f"{path}?{query}"
    return client.generic(method, path, body or "", content_type=content_type, **extra)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _generous_limits(settings, monkeypatch):
    # Rate limits would turn most cases into 429s; the fuzz is about what lies behind them.
    settings.PARLEY_WIDGET_RATE_PER_IP = 10**6
    settings.PARLEY_WIDGET_RATE_PER_CONTACT = 10**6
    monkeypatch.setattr("widget.chat_views.WRITES_PER_MINUTE", 10**6)
    monkeypatch.setattr("widget.chat_views.ANONYMOUS_STARTS_PER_HOUR", 10**6)


@pytest.fixture
def visitor(website):
    contact = ContactFactory()
    return contact, widget_token_sign(contact_id=contact.pk, website_id=website.pk)


@pytest.fixture
def conversation(visitor, website):
    contact, _token = visitor
    return services.conversation_start_by_contact(contact=contact, body="Hello", website=website)


PAGE = {"url": "https://shop.example/pricing", "title": "Pricing", "referrer": "https://search.example/"}
USER = {"user_id": "u-1", "email": "ada@example.com", "name": "Ada", "phone": "+44", "created_at": 1_700_000_000,
        "language_override": "fr", "custom_attributes": {"plan": "pro", "seats": 3}}  # fmt: skip
USER_PATHS = [f"user.{key}" for key in USER] + ["user.custom_attributes.plan", "user.custom_attributes.new"]
PAGE_PATHS = ["page", "page.url", "page.title", "page.referrer"]


def _tracking_templates(token):
    return {
        "ping": (
            {"anonymous_id": str(uuid.uuid4()), "consent": True, "browser_language": "fr-FR", "page": PAGE},
            ["anonymous_id", "token", "consent", "browser_language", "user", *PAGE_PATHS, *USER_PATHS],
        ),
        "update": (
            {"token": token, "consent": True, "page": PAGE, "user": USER},
            ["token", "consent", *PAGE_PATHS, *USER_PATHS],
        ),
        "events": (
            {"token": token, "name": "paid", "metadata": {"amount": 3, "plan": "pro"}, "created_at": int(time.time())},
            ["token", "name", "metadata", "metadata.amount", "metadata.plan", "created_at", "consent"],
        ),
        "shutdown": ({"token": token}, ["token"]),
    }


# --- widget: tracking endpoints -----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["ping", "update", "events", "shutdown"])
def test_fuzz_widget_tracking_endpoints(client, website, visitor, endpoint):
    template, paths = _tracking_templates(visitor[1])[endpoint]

    @FUZZ
    @given(
        app_id=segment_strategy(website.app_id),
        body=body_strategy(template, paths),
        content_type=content_types,
        origin=origins,
        method=st.sampled_from(["POST"] * 16 + ["GET", "PUT", "DELETE", "OPTIONS"]),
    )
    def run(app_id, body, content_type, origin, method):
        response = _request(
            client, method, f"/widget-api/{app_id}/{endpoint}", body=body, content_type=content_type, origin=origin
        )
        # A CORS preflight's empty answer is its normal shape.
        assert_refusal_is_json(f"widget {endpoint}", response, allow_non_json_success=method == "OPTIONS")

    run()


# --- widget: chat endpoints ---------------------------------------------------------------------


def test_fuzz_widget_start_conversation(client, website, visitor):
    template = {"token": visitor[1], "body": "Hello there", "page_url": "https://shop.example/pricing"}
    anonymous = {"anonymous_id": str(uuid.uuid4()), "body": "Hi"}

    @FUZZ
    @given(
        app_id=segment_strategy(website.app_id),
        body=st.one_of(
            body_strategy(template, ["token", "body", "page_url"]), body_strategy(anonymous, ["anonymous_id", "body"])
        ),
        content_type=content_types,
        origin=origins,
    )
    def run(app_id, body, content_type, origin):
        path = f"/widget-api/{app_id}/conversations"
        response = _request(client, "POST", path, body=body, content_type=content_type, origin=origin)
        assert_refusal_is_json("widget conversations (POST)", response)

    run()


@pytest.mark.parametrize("action", ["reply", "read"])
def test_fuzz_widget_reply_and_read(client, website, visitor, conversation, action):
    template = {"token": visitor[1], "body": "More details"}

    @FUZZ
    @given(
        app_id=segment_strategy(website.app_id),
        public_id=segment_strategy(conversation.public_id),
        body=body_strategy(template, ["token", "body"]),
        content_type=content_types,
    )
    def run(app_id, public_id, body, content_type):
        path = f"/widget-api/{app_id}/conversations/{public_id}/{action}"
        response = _request(client, "POST", path, body=body, content_type=content_type)
        assert_refusal_is_json(f"widget conversations/<id>/{action}", response)

    run()


@pytest.fixture
def rating_request(website, conversation):
    """The visitor's conversation, answered and closed on a website that asks for ratings (CSAT)."""
    from conversations.models import ConversationRating

    website.conversation_ratings_enabled = True
    website.save(update_fields=["conversation_ratings_enabled"])
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Done")
    services.conversation_close(conversation=conversation, teammate=None)
    return ConversationRating.objects.get(conversation=conversation)


def test_fuzz_widget_rating(client, website, visitor, conversation, rating_request):
    template = {"token": visitor[1], "request_id": str(rating_request.pk), "rating": 4, "remark": "Quick"}

    @FUZZ
    @given(
        app_id=segment_strategy(website.app_id),
        public_id=segment_strategy(conversation.public_id),
        body=body_strategy(template, ["token", "request_id", "rating", "remark"]),
        content_type=content_types,
    )
    def run(app_id, public_id, body, content_type):
        path = f"/widget-api/{app_id}/conversations/{public_id}/rating"
        response = _request(client, "POST", path, body=body, content_type=content_type)
        assert_refusal_is_json("widget conversations/<id>/rating", response)

    run()


@pytest.fixture
def in_app_delivery(visitor):
    contact, _token = visitor
    message = services.message_send(sender=None, channel="in_app", body="Hi {{contact.first_name}}",
                                    contact_ids=[contact.pk])  # fmt: skip
    services.message_deliver_batch(message_id=message.pk)
    return message.deliveries.get()


@pytest.mark.parametrize("action", ["seen", "reply"])
def test_fuzz_widget_in_app_message_actions(client, website, visitor, in_app_delivery, action):
    template = {"token": visitor[1], "body": "Sounds good"}

    @FUZZ
    @given(
        app_id=segment_strategy(website.app_id),
        delivery_id=segment_strategy(str(in_app_delivery.pk)),
        body=body_strategy(template, ["token", "body"]),
        content_type=content_types,
    )
    def run(app_id, delivery_id, body, content_type):
        path = f"/widget-api/{app_id}/messages/{delivery_id}/{action}"
        response = _request(client, "POST", path, body=body, content_type=content_type)
        assert_refusal_is_json(f"widget messages/<id>/{action}", response)

    run()


def _query(**params):
    """A query string from possibly hostile values (percent-encoded, invalid UTF-8 included)."""
    return "&".join(
        f"{key}={quote(str(value).encode('utf-8', 'surrogatepass'), safe='')}" for key, value in params.items()
    )


@pytest.mark.parametrize("endpoint", ["poll", "conversations", "conversations/<id>", "availability"])
def test_fuzz_widget_reads(client, website, visitor, conversation, endpoint):
    good_since = "2024-01-01T00:00:00Z"

    @FUZZ
    @given(
        app_id=segment_strategy(website.app_id),
        public_id=segment_strategy(conversation.public_id),
        token=mostly(visitor[1], text),
        since=st.one_of(
            st.just(good_since),
            st.sampled_from(
                [
                    "2024-01-01T00:00:00+99:00",
                    "2024-13-45T25:61:61Z",
                    "9999-12-31T23:59:59+23:59",
                    "0001-01-01T00:00:00-23:59",
                    "2024-01-01T00:00:00",
                ]
            ),
            text,
        ),
        method=st.sampled_from(["GET"] * 12 + ["POST", "DELETE"]),
    )
    def run(app_id, public_id, token, since, method):
        path = f"/widget-api/{app_id}/{endpoint.replace('<id>', public_id)}"
        response = _request(client, method, path, query=_query(token=token, since=since))
        assert_refusal_is_json(f"widget {endpoint} (GET)", response)

    run()


# --- email endpoints ----------------------------------------------------------------------------


@pytest.fixture
def delivery_urls():
    user = UserContactFactory(email="ada@example.com")
    message = services.message_send(
        sender=TeammateFactory(), channel="email", subject="News", body="Hi! See https://parley.example/docs",
        contact_ids=[user.pk],
    )  # fmt: skip
    while services.message_deliver_batch(message_id=message.pk, batch_size=10)[1]:
        pass
    delivery = message.deliveries.get()
    return {
        "open": urlsplit(email_links.open_pixel_url(delivery.pk)).path,
        "click": urlsplit(email_links.click_url(delivery.pk, 0)).path,
        "unsubscribe": urlsplit(email_links.unsubscribe_url(delivery.pk)).path,
        "reply_to": mail.outbox[-1].reply_to[0],
    }


@pytest.mark.parametrize("kind", ["open", "click", "unsubscribe"])
def test_fuzz_email_links(client, delivery_urls, kind):
    real = delivery_urls[kind]
    prefix, _, token = real.rpartition("/")
    suffix = ".gif" if kind == "open" else ""
    token = token.removesuffix(suffix)

    @FUZZ
    @given(
        token=st.one_of(
            st.just(token),
            segment_strategy(token),
            st.builds(
                lambda head, tail: head + quote(tail.encode("utf-8", "surrogatepass"), safe=""),
                st.just(token[:-3]),
                text,
            ),
        ),
        method=st.sampled_from(["GET", "GET", "HEAD", "POST", "PUT", "DELETE"]),
        body=st.one_of(
            st.just("List-Unsubscribe=One-Click"), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))
        ),
    )
    def run(token, method, body):
        response = client.generic(
            method, f"{prefix}/{token}{suffix}", body, content_type="application/x-www-form-urlencoded"
        )
        # The pixel, the redirect and the unsubscribe page answer their own shape for valid input.
        assert_refusal_is_json(f"email {kind}", response, allow_non_json_success=True)

    run()


def _routes_to_rating_page(response) -> bool:
    from django.urls import Resolver404, resolve

    try:
        return resolve(response.wsgi_request.path_info).url_name == "rating_page"
    except Resolver404:
        return False


def test_fuzz_rating_page(client, rating_request):
    """The emailed rating page answers people, not programs: every refusal is a page (HTML) saying why, and
    nothing is ever a server error, whatever the token, method or form."""
    real = urlsplit(email_links.rating_url(rating_request.pk)).path
    prefix, _, token = real.rpartition("/")
    forms = st.dictionaries(st.sampled_from(["rating", "remark", "csrfmiddlewaretoken", "x"]), text, max_size=3)

    @FUZZ
    @given(
        token=st.one_of(
            st.just(token),
            segment_strategy(token),
            st.builds(
                lambda head, tail: head + quote(tail.encode("utf-8", "surrogatepass"), safe=""),
                st.just(token[:-3]),
                text,
            ),
        ),
        method=st.sampled_from(["GET", "GET", "POST", "POST", "HEAD", "PUT"]),
        query=st.one_of(st.none(), text.map(lambda value: _query(rating=value))),
        form=forms,
    )
    def run(token, method, query, form):
        path = f"{prefix}/{token}" + (f"?{query}" if query else "")
        body = _query(**form) if form else ""
        response = client.generic(method, path, body, content_type="application/x-www-form-urlencoded")
        fuzz_record("email rating page", response.status_code)
        assert response.status_code < 500, (response.status_code, response.content[:300])
        # The page answers whatever reaches it (an empty token, or one with an encoded "/", does not route: the
        # project's JSON 404); 405 is the JSON refusal of every email endpoint.
        if _routes_to_rating_page(response) and response.status_code != 405 and method != "HEAD":
            assert response["Content-Type"].startswith("text/html") and b"<h1" in response.content

    run()


CHARSETS = ["utf-8", "us-ascii", "latin-1", "x-unknown", "utf-7", "bogus\x00", "", "utf-16", "cp1252", "ébc"]


def _email(reply_to, sender, subject, text_body, charset, encoding, extra_header):
    lines = [
        f"From: {sender}",
        f"To: {reply_to}",
        f"Subject: {subject}",
        "MIME-Version: 1.0",
        f'Content-Type: text/plain; charset="{charset}"',
        f"Content-Transfer-Encoding: {encoding}",
        extra_header,
        "",
        text_body,
    ]
    return "\r\n".join(lines).encode("utf-8", "surrogatepass")


def test_fuzz_email_inbound(client, delivery_urls):
    reply_to = delivery_urls["reply_to"]
    good = EmailMessage()
    good["From"], good["To"], good["Subject"] = "ada@example.com", reply_to, "Re: News"
    good.set_content("Thanks!")

    @FUZZ
    @example(raw=_email(reply_to, "ada@example.com", "Re", "Thanks", "x-unknown", "8bit", "X-A: b"), content_type="")
    @given(
        raw=st.one_of(
            st.builds(
                _email,
                reply_to=st.one_of(st.just(reply_to), st.just(reply_to), st.just(reply_to), text),
                sender=st.one_of(st.just("Ada <ada@example.com>"), st.just("ada@example.com"), text),
                subject=text,
                text_body=st.one_of(text, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
                charset=st.one_of(st.sampled_from(CHARSETS), text),
                encoding=st.sampled_from(["8bit", "7bit", "base64", "quoted-printable", "x-bogus", "binary"]),
                extra_header=st.sampled_from(["X-A: b", "Content-Type: multipart/mixed; boundary=", "Date: ²"]),
            ),
            st.binary(max_size=500),
            st.just(good.as_bytes()),
        ),
        content_type=st.sampled_from(
            [
                "message/rfc822",
                "text/plain",
                "multipart/form-data; boundary=zz",
                "application/x-www-form-urlencoded",
                "",
            ]
        ),
    )
    def run(raw, content_type):
        response = client.generic("POST", "/email/inbound", raw, content_type=content_type)
        assert_refusal_is_json("email inbound", response)

    run()
    assert Contact.objects.filter(email="ada@example.com").exists()
