"""The generated documents: the record of processing activities (GDPR Art. 30) read from the live
configuration, and the cookie declaration from the widget's own list."""

import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.models import WebhookSubscription
from contacts.models import DataAttribute
from privacy.cookie_declaration import cookie_declaration, cookie_declaration_html
from privacy.record_of_processing import record_of_processing, record_of_processing_markdown
from retention.models import RetentionPolicy
from tests.contacts.factories import DataAttributeFactory
from tests.tracking.factories import WebsiteFactory
from tracking.models import Website
from widget.cookies import WIDGET_STORAGE_KEYS

LOADER_SOURCE = Path(__file__).resolve().parents[2] / "widget" / "js" / "parley.js"
PANEL_SOURCE = LOADER_SOURCE.with_name("panel.js")


def test_the_record_follows_the_retention_policy_and_the_webhooks(db):
    before = record_of_processing()
    assert not any(r["recipient"] == "hooks.crm.example" for r in before["recipients"])

    RetentionPolicy.objects.update_or_create(
        pk=1, defaults={"visitor_ttl_days": 90, "lead_ttl_days": 400, "tracking_ttl_days": 30}
    )
    WebhookSubscription.objects.create(url="https://hooks.crm.example/parley?key=1", topics=["contact.user.created"])
    WebhookSubscription.objects.create(url="https://hooks.crm.example/b", topics=["conversation.user.created"])
    WebhookSubscription.objects.create(url="https://old.example/hook", topics=["contact.user.created"], active=False)
    after = record_of_processing()

    rules = {row["data"]: row["rule"] for row in after["retention"]}
    # The retention admin's own wording: "not seen for", "older than".
    assert rules["Anonymous visitors and their whole history"] == "deleted once not seen for 90 days"
    assert rules["Leads and their whole history"] == "deleted once not seen for 400 days"
    assert rules["Page views and events"] == "deleted when older than 30 days"
    topics = "webhook destination, topics: contact.user.created, conversation.user.created"
    assert {"recipient": "hooks.crm.example", "role": topics} in after["recipients"]
    assert not any(r["recipient"] == "old.example" for r in after["recipients"])
    markdown = record_of_processing_markdown()
    assert "deleted when older than 30 days" in markdown and f"hooks.crm.example: {topics}" in markdown


def test_the_record_lists_standard_fields_custom_attributes_bases_and_security(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "smtp.mailprovider.example"
    DataAttributeFactory(name="plan", label="Plan", data_type=DataAttribute.DataType.STRING)
    WebsiteFactory(name="Bank", tracking_mode=Website.TrackingMode.SUPPORT_ONLY)
    WebsiteFactory(
        name="Blog",
        identity_verification=Website.IdentityVerification.OFF,
        marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST,
    )

    record = record_of_processing()

    fields = {f["name"] for f in record["categories_of_personal_data"]["standard_fields"]}
    assert {"email", "name", "phone", "city", "browser_language", "last_email_opened_at"} <= fields
    assert "created_at" not in fields
    assert [a["name"] for a in record["categories_of_personal_data"]["custom_attributes"]] == ["plan"]
    bases = {row["website"]: row for row in record["legal_bases"]}
    assert bases["Bank"]["analytics"].startswith("Art. 6(1)(a) consent")
    # Never a basis the owner did not choose: support is "not chosen" until they pick one; consent with
    # full tracking is flagged rather than printed as if it held.
    assert bases["Bank"]["support"] == "not chosen yet: choose it in the website's settings"
    assert "WARNING" in bases["Blog"]["analytics"] and "WARNING" not in bases["Bank"]["analytics"]
    Website.objects.filter(name="Blog").update(
        support_basis=Website.SupportBasis.CONTRACT, analytics_basis=Website.AnalyticsBasis.LEGITIMATE_INTEREST
    )
    chosen = {row["website"]: row for row in record_of_processing()["legal_bases"]}["Blog"]
    assert chosen["support"].startswith("Art. 6(1)(b) contract") and chosen["analytics"].startswith("Art. 6(1)(f)")
    fields = {f["name"] for f in record["categories_of_personal_data"]["standard_fields"]}
    assert {"consent_source", "consent_updated_at", "analytics_consent"} <= fields
    assert bases["Blog"]["marketing"].startswith("Art. 6(1)(f) legitimate interest")
    assert {"recipient": "smtp.mailprovider.example", "role": "email delivery (SMTP relay, processor)"} in record[
        "recipients"
    ]
    verification = {row["website"]: row["status"] for row in record["security_measures"]["identity_verification"]}
    assert verification == {"Bank": "Enforced", "Blog": "Off"}
    assert "Never stored" in record["security_measures"]["ip_addresses"]


def test_the_record_costs_a_fixed_number_of_queries(db):
    WebsiteFactory.create_batch(2)
    with CaptureQueriesContext(connection) as few:
        record_of_processing()
    WebsiteFactory.create_batch(20)
    for i in range(10):
        DataAttributeFactory(name=f"a{i}")
        WebhookSubscription.objects.create(url=f"https://h{i}.example/", topics=["contact.user.created"])
    with CaptureQueriesContext(connection) as many:
        record_of_processing()
    assert len(many) == len(few)


def test_every_cookie_the_loader_writes_is_declared_with_its_lifetime():
    written = dict(re.findall(r'cookie\("(\w+)", [^;]*?, (\d+)\)', LOADER_SOURCE.read_text()))
    # (The session cookie is the panel's: test_the_panels_keys_are_declared_and_it_uses_no_other.)
    assert written == {key.kind: str(key.days) for key in WIDGET_STORAGE_KEYS if key.storage == "cookie" and key.days}
    assert "localStorage" not in LOADER_SOURCE.read_text() and "sessionStorage" not in LOADER_SOURCE.read_text()


def test_the_panels_keys_are_declared_and_it_uses_no_other():
    panel, loader = PANEL_SOURCE.read_text(), LOADER_SOURCE.read_text()
    loaders = set(re.findall(r'cookie\("(\w+)", [^;]*?, \d+\)', loader))
    assert re.findall(r'"parley-(\w+)-" \+ ctx\.get\(\)\[7\]', panel) == [
        key.kind for key in WIDGET_STORAGE_KEYS if key.kind not in loaders
    ]
    assert panel.count("sessionStorage.") == len(re.findall(r"w\.sessionStorage\.\w+\(DRAFTS", panel)) == 3
    # Its one cookie: the "kept" one (KEPT), a session cookie (no lifetime but a deletion's), read by the loader.
    assert "document.cookie" not in panel and "localStorage" not in panel
    assert panel.count("d.cookie = ") == 1 and 'var KEPT = "parley-kept-" + ctx.get()[7]' in panel
    write = panel[panel.index("d.cookie = ") : panel.index(";", panel.index("SameSite=Lax"))]
    assert write.startswith('d.cookie = KEPT + "="') and ";path=/" in write and "expires" not in write
    assert re.findall(r"max-age=\d*", write) == ["max-age=0"]
    assert 'cookie("kept")' in loader
    kept = next(key for key in WIDGET_STORAGE_KEYS if key.kind == "kept")
    assert (kept.storage, kept.days, kept.duration) == ("cookie", 0, "until the browser is closed (a session cookie)")


def test_the_cookie_declaration_names_the_websites_cookies_and_escapes_its_html(db):
    website = WebsiteFactory(name="<b>Shop</b>")
    declaration = cookie_declaration(website=website)
    assert [(item["name"], item["storage"]) for item in declaration["items"]] == [
        (f"parley-id-{website.app_id}", "cookie"),
        (f"parley-session-{website.app_id}", "cookie"),
        (f"parley-draft-{website.app_id}", "sessionStorage"),
        (f"parley-kept-{website.app_id}", "cookie"),
    ]
    assert declaration["session_storage"] == [f"parley-draft-{website.app_id}"] and declaration["local_storage"] == []
    assert declaration["items"][2]["duration"] == "until the browser tab is closed"
    # A session cookie gives no lifetime (a tool reading 0 would take it for one deleted at once).
    kept, token = declaration["items"][3], declaration["items"][1]
    assert (kept["session"], kept["duration_days"], kept["duration_seconds"]) == (True, None, None)
    assert (token["session"], token["duration_days"], token["duration_seconds"]) == (False, 7, 7 * 86400)
    assert {item["party"] for item in declaration["items"]} == {"first"}
    html = cookie_declaration_html(website=website)
    assert f"<code>parley-id-{website.app_id}</code>" in html and "270 days" in html


@pytest.mark.parametrize("group", ["viewer", "agent"])
def test_teammates_read_the_documents_and_bad_formats_are_404(client, member, group):
    website = WebsiteFactory()
    client.force_login(member(group))
    base = "/admin/privacy/datasubjectrequest"
    assert client.get(f"{base}/record-of-processing/json/").json()["purposes"]
    assert client.get(f"{base}/record-of-processing/md/")["Content-Type"].startswith("text/markdown")
    assert client.get(f"{base}/cookie-declaration/{website.pk}/json/").status_code == 200
    assert client.get(f"{base}/cookie-declaration/{website.pk}/html/").status_code == 200
    assert client.get(f"{base}/cookie-declaration/{website.pk}/xml/").status_code == 404
    assert client.get(f"{base}/cookie-declaration/999999/json/").status_code == 404
    assert client.get(f"{base}/record-of-processing/pdf/").status_code == 404


def test_a_hostile_website_name_stays_in_its_markdown_cell(db):
    WebsiteFactory(name="Evil | shop\n# Injected heading `x`")
    markdown = record_of_processing_markdown()
    assert "\n# Injected" not in markdown
    assert "Evil \\| shop # Injected heading 'x'" in markdown


def test_raw_html_and_links_in_names_are_escaped_for_markdown(db):

    from tracking import services as tracking_services

    tracking_services.website_create(
        name="<img src=x onerror=alert(1)> [win](https://evil.example)", allowed_origins=[]
    )
    DataAttribute.objects.create(name="plan", label="<script>alert(1)</script> ![x](https://evil.example/p.png)")
    markdown = record_of_processing_markdown()
    assert not re.search(r"(?<!\\)<(img|script)", markdown)  # raw HTML only escaped
    assert not re.search(r"(?<!\\)\]\(https://evil", markdown)  # no link nor image
    assert "\\<img src=x onerror=alert(1)\\> \\[win\\](https://evil.example)" in markdown


def test_the_record_downloads_as_markdown_and_the_cookie_declaration_reads_cleanly(admin_client, db):
    website = WebsiteFactory(name="Shop")
    response = admin_client.get("/admin/privacy/datasubjectrequest/record-of-processing/md/")
    assert response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"] == 'attachment; filename="record-of-processing.md"'

    page = admin_client.get(f"/admin/privacy/datasubjectrequest/cookie-declaration/{website.pk}/html/").content.decode()
    caption = page.split("<caption>")[1].split("</caption>")[0]
    assert caption.count("(") == 0  # no nested parentheses
    assert f'href="/admin/tracking/website/{website.pk}/change/"' in page.split('class="breadcrumbs"')[1]


def test_the_record_lists_conversation_ratings_only_where_an_owner_switched_them_on(db):
    WebsiteFactory(name="Bank")
    assert not any(
        "ratings" in item for item in record_of_processing()["categories_of_personal_data"]["communications"]
    )
    WebsiteFactory(name="Shop", conversation_ratings_enabled=True)
    communications = record_of_processing()["categories_of_personal_data"]["communications"]
    assert "conversation ratings (1 to 5) and their comments (Shop)" in communications
    assert "conversation ratings (1 to 5) and their comments (Shop)" in record_of_processing_markdown()
