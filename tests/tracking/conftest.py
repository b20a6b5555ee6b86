import json

import pytest

from tests.tracking.factories import ORIGIN
from tracking import services
from tracking.models import Website
from tracking.selectors import website_cache_forget

PUBLIC_IP = "81.2.69.142"  # in the shipped GeoLite2 2018 City DB: United Kingdom
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture(autouse=True)
def _fresh_website_cache():
    website_cache_forget()
    yield
    website_cache_forget()


@pytest.fixture
def enforced_website(db):
    return services.website_create(
        name="Bank", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.ENFORCED
    )


@pytest.fixture
def support_only_website(db):
    return services.website_create(
        name="Clinic", allowed_origins=[ORIGIN], tracking_mode=Website.TrackingMode.SUPPORT_ONLY
    )


class Widget:
    """A browser running the widget: keeps the anonymous id and the token like the cookies do."""

    def __init__(self, client, website, *, ip=PUBLIC_IP, user_agent=CHROME_MAC, origin=ORIGIN):
        self.client, self.website, self.ip, self.user_agent, self.origin = client, website, ip, user_agent, origin
        self.anonymous_id = None
        self.token = None

    def post(self, endpoint, body=None, *, raw=None, content_type="text/plain;charset=UTF-8", **headers):
        data = raw if raw is not None else json.dumps(body)
        extra = {"REMOTE_ADDR": self.ip, "HTTP_USER_AGENT": self.user_agent, **headers}
        if self.origin:
            extra["HTTP_ORIGIN"] = self.origin
        return self.client.generic(
            "POST", f"/widget-api/{self.website.app_id}/{endpoint}", data, content_type=content_type, **extra
        )

    def ping(self, url="https://shop.example/", *, user=None, consent=None, title="Home", referrer="", **extra):
        body = {"page": {"url": url, "title": title, "referrer": referrer}, "browser_language": "fr-FR", **extra}
        if self.anonymous_id:
            body["anonymous_id"] = self.anonymous_id
        if self.token:
            body["token"] = self.token
        if user is not None:
            body["user"] = user
        if consent is not None:
            body["consent"] = consent
        response = self.post("ping", body)
        if response.status_code == 200:
            answer = response.json()
            if answer["anonymous_id"]:
                self.anonymous_id = answer["anonymous_id"]
            if answer["token"]:
                self.token = answer["token"]
        return response

    def event(self, name, metadata=None, **extra):
        body = {"token": self.token, "name": name, **extra}
        if metadata is not None:
            body["metadata"] = metadata
        return self.post("events", body)


@pytest.fixture
def widget(client, website):
    return Widget(client, website)


@pytest.fixture
def bank(db):
    """Website A: enforces identity verification."""
    return services.website_create(
        name="Bank", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.ENFORCED
    )


@pytest.fixture
def blog(db):
    """Website B: verification switched off by its owner."""
    return services.website_create(
        name="Blog", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.OFF
    )
