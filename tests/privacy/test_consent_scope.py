"""Whose consent counts where: only the visitor's explicit choice, given on this website, turns
tracking on where the website waits for consent (never its old default, never another website's)."""

import pytest

from contacts.models import Contact
from tests.tracking.conftest import Widget
from tests.tracking.factories import ORIGIN, user_hash
from tracking import services as tracking_services
from tracking.models import Website
from tracking.selectors import website_cache_forget
from tracking.widget_auth import widget_token_read


@pytest.fixture
def clinic(db):
    return tracking_services.website_create(
        name="Clinic", allowed_origins=[ORIGIN], tracking_mode=Website.TrackingMode.SUPPORT_ONLY
    )


def _switch_to_support_only(website):
    Website.objects.filter(pk=website.pk).update(tracking_mode=Website.TrackingMode.SUPPORT_ONLY)
    website_cache_forget()


def test_a_returning_visitor_tracked_under_the_old_full_default_is_not_tracked_after_the_switch(client, website):
    widget = Widget(client, website)
    assert widget.ping().json()["tracked"] is True
    assert widget_token_read(token=widget.token, website_id=website.pk).tracking_consent is False

    _switch_to_support_only(website)

    assert widget.ping("https://shop.example/after").json()["tracked"] is False
    assert widget.ping("https://shop.example/again").json()["tracked"] is False


def test_a_consent_platform_still_waiting_is_no_consent(client, clinic):
    widget = Widget(client, clinic)
    assert widget.ping(consent={"source": "tcf"}).json()["tracked"] is False
    assert widget.ping(consent={"analytics": True, "source": "tcf"}).json()["tracked"] is True
    _switch = widget.ping(consent={"source": "tcf"}).json()  # the CMP's banner on the next page, before it answers
    assert _switch["tracked"] is True  # the choice given on this website holds for the next pages
    assert widget_token_read(token=widget.token, website_id=clinic.pk).tracking_consent is True


def test_consent_given_on_one_website_does_not_track_the_person_on_another_that_requires_it(client, website, clinic):
    shop = Widget(client, website)
    shop.ping(
        user={"user_id": "u-1", "user_hash": user_hash(website, "u-1")}, consent={"analytics": True, "marketing": True}
    )
    assert Contact.objects.get().analytics_consent is True

    other = Widget(client, clinic)
    assert other.ping().json()["tracked"] is False
    other.token = other.post("conversations", {"body": "A question"}).json()["token"]
    signed = {"user_id": "u-1", "user_hash": user_hash(clinic, "u-1")}
    answer = other.post("update", {"token": other.token, "user": signed}).json()
    assert answer["tracked"] is False
    other.token = answer["token"] or other.token
    assert other.ping("https://clinic.example/private").json()["tracked"] is False
