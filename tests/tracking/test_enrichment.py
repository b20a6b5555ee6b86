import pytest
from django.test import RequestFactory

from contacts.models import Contact
from tests.tracking.conftest import CHROME_MAC, PUBLIC_IP, Widget
from tracking import enrichment
from tracking.models import WebSession

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


@pytest.mark.parametrize(
    ("ip", "country", "country_name"),
    [(PUBLIC_IP, "GB", "United Kingdom"), ("8.8.8.8", "US", "United States"), ("193.0.6.139", "NL", "Netherlands")],
)
def test_geoip_finds_country_in_the_shipped_database(ip, country, country_name):
    location = enrichment.locate(ip)
    assert (location.country, location.country_name) == (country, country_name)


def test_geoip_finds_the_city_when_the_database_knows_it():
    assert enrichment.locate("193.0.6.139").city == "Amsterdam"


@pytest.mark.parametrize("ip", ["10.1.2.3", "192.168.0.1", "127.0.0.1", "::1", "fe80::1", "not-an-ip", "", None])
def test_private_or_unknown_addresses_leave_location_empty(ip):
    assert enrichment.locate(ip) == enrichment.Location()


def test_geoip_reader_is_opened_once_per_process():
    assert enrichment.geoip_reader() is enrichment.geoip_reader()


def test_missing_geoip_database_leaves_location_empty(settings, tmp_path):
    settings.GEOIP_PATH = str(tmp_path / "missing.mmdb")
    enrichment.geoip_reader.cache_clear()
    try:
        assert enrichment.locate(PUBLIC_IP) == enrichment.Location()
    finally:
        settings.GEOIP_PATH = ""
        enrichment.geoip_reader.cache_clear()


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (CHROME_MAC, enrichment.Device(os="Mac OS X 10.15", browser="Chrome", browser_version="131.0")),
        (IPHONE, enrichment.Device(os="iOS 18.1", browser="Mobile Safari", browser_version="18.1")),
        (FIREFOX_LINUX, enrichment.Device(os="Linux", browser="Firefox", browser_version="132.0")),
        ("", enrichment.Device(bot=True)),  # no user agent: a script, not a browser
        ("\x01\x02 garbage", enrichment.Device()),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            enrichment.Device(browser="Googlebot", browser_version="2.1", bot=True),
        ),
    ],
)
def test_user_agent_parsing(user_agent, expected):
    assert enrichment.describe_device(user_agent) == expected


def test_user_agent_parser_uses_the_rust_resolver():
    parser = enrichment.user_agent_parser()
    assert type(parser.resolver.parser).__module__ == "ua_parser.regex"  # ua-parser-rs behind it


def test_accept_language_first_tag():
    request = RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE="de-CH,de;q=0.9,en;q=0.8")
    assert enrichment.accept_language(request) == "de-CH"


@pytest.mark.django_db
def test_session_is_enriched_once_with_location_and_device(client, website, settings, ingest_flush):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    widget = Widget(client, website, ip="127.0.0.1")
    response = widget.post(
        "ping", {"page": {"url": "https://shop.example/"}, "browser_language": "en-GB"}, HTTP_X_FORWARDED_FOR=PUBLIC_IP
    )
    assert response.status_code == 200
    widget.token = response.json()["token"]
    widget.user_agent = IPHONE
    widget.ip = "8.8.8.8"
    widget.ping()
    ingest_flush()
    session = WebSession.objects.get()
    assert (session.country, session.os, session.browser, session.browser_language) == (
        "GB",
        "Mac OS X 10.15",
        "Chrome",
        "en-GB",
    )
    contact = Contact.objects.get()
    assert (contact.country, contact.country_name, contact.browser, contact.browser_version) == (
        "GB",
        "United Kingdom",
        "Chrome",
        "131.0",
    )
