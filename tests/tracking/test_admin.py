import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.contacts.factories import ContactFactory, UserContactFactory
from tracking import selectors, services
from tracking.models import Event, EventSummary, PageView, WebSession

pytestmark = pytest.mark.django_db


def _history(contact, website, *, page_views=3, events=2, when=None):
    when = when or timezone.now()
    session = WebSession.objects.create(
        contact=contact, website=website, started_at=when, last_activity_at=when, page_views_count=page_views,
        landing_url="https://shop.example/", browser="Chrome", browser_version="131.0", os="Mac OS X 10.15",
        city="London", country="GB", country_name="United Kingdom", utm_source="news",
    )  # fmt: skip
    PageView.objects.bulk_create(
        PageView(contact=contact, session=session, url=f"https://shop.example/p{n}", title=f"Page {n}", created_at=when)
        for n in range(page_views)
    )
    for n in range(events):
        services.event_track(contact=contact, name=f"event-{n % 2}", metadata={"n": n}, created_at=None, now=when)
    return session


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(captured), response.content.decode()


def test_contact_page_shows_tracking_panels_within_query_budget(admin_client, website):
    contact = UserContactFactory()
    _history(contact, website, page_views=3, events=2)
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    admin_client.get(url)  # warm Django's content type cache
    few, page = _queries(admin_client, url)
    for text in ("Recent page views", "Web sessions", "Recent events", "Page 2", "event-1", "London", "Chrome 131.0"):
        assert text in page
    assert f"?contact__id__exact={contact.pk}" in page
    _history(contact, website, page_views=40, events=40)
    many, page = _queries(admin_client, url)
    assert few == many <= 11  # …and the header's name for the teammate (their profile: common.teammates)
    assert page.count("https://shop.example/p") >= 20


def test_contact_page_writes_each_page_views_address_under_its_title(admin_client, website):
    """Titles repeat ("Product"): the address says which page it was, its host in full."""
    contact = UserContactFactory()
    session = _history(contact, website, page_views=0)
    for path in ("/p/lamp", "/p/desk"):
        PageView.objects.create(
            contact=contact,
            session=session,
            url=f"https://shop.example{path}",
            title="Product",
            created_at=session.started_at,
        )
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[contact.pk])).content.decode()
    assert "shop.example/p/lamp</small>" in page and "shop.example/p/desk</small>" in page


def test_contact_page_shows_one_events_panel_with_totals_and_recent_events(admin_client, website):
    contact = UserContactFactory()
    _history(contact, website, page_views=1, events=3)
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[contact.pk])).content.decode()
    panel_titles = re.findall(r'<fieldset class="module aligned contact-panel">\s*<h2>([^<]*)</h2>', page)
    assert [title for title in panel_titles if "event" in title.lower()] == ["Events"]
    events_panel = page.split("<h2>Events</h2>", 1)[1].split("</fieldset>", 1)[0]
    # The totals per name (event-0 twice, event-1 once), then the recent events with their metadata.
    assert "<td>event-0</td><td>2</td>" in events_panel
    assert "Recent events" in events_panel and "<code>n</code>" in events_panel


def test_contact_panels_show_newest_20_page_views_first(admin_client, website):
    contact = ContactFactory()
    now = timezone.now()
    session = _history(contact, website, page_views=0, events=0)
    PageView.objects.bulk_create(
        PageView(
            contact=contact, session=session, url=f"https://shop.example/n{n}", created_at=now - dt.timedelta(minutes=n)
        )
        for n in range(25)
    )
    activity = selectors.contact_tracking_activity(contact=contact)
    urls = [view.url for view in activity["page_views"]]
    assert urls == [f"https://shop.example/n{n}" for n in range(20)]


@pytest.mark.parametrize("model", [WebSession, PageView, Event, EventSummary])
def test_read_only_history_admins_have_fixed_query_counts(admin_client, website, model):
    url = reverse(f"admin:tracking_{model._meta.model_name}_changelist")
    _history(ContactFactory(), website)
    few, _ = _queries(admin_client, url)
    for _ in range(8):
        _history(ContactFactory(), website)
    many, _ = _queries(admin_client, url)
    assert few == many
    assert admin_client.get(reverse(f"admin:tracking_{model._meta.model_name}_add")).status_code == 403


def test_all_page_views_link_filters_by_contact(admin_client, website):
    mine, other = ContactFactory(), ContactFactory()
    _history(mine, website, page_views=2)
    _history(other, website, page_views=5)
    url = reverse("admin:tracking_pageview_changelist") + f"?contact__id__exact={mine.pk}"
    page = admin_client.get(url).content.decode()
    assert page.count('class="field-url"') == 2


def test_history_rows_cannot_be_edited_or_deleted(admin_client, website):
    session = _history(ContactFactory(), website)
    view = PageView.objects.filter(session=session).first()
    url = reverse("admin:tracking_pageview_change", args=[view.pk])
    assert admin_client.post(url, {"url": "https://evil.example/"}).status_code == 403
    assert (
        admin_client.post(reverse("admin:tracking_pageview_delete", args=[view.pk]), {"post": "yes"}).status_code == 403
    )
    assert PageView.objects.get(pk=view.pk).url != "https://evil.example/"


def test_website_page_shows_page_views_per_day(admin_client, website):
    contact = ContactFactory()
    now = timezone.now()
    _history(contact, website, page_views=4, when=now)
    _history(contact, website, page_views=2, when=now - dt.timedelta(days=3))
    _history(contact, website, page_views=7, when=now - dt.timedelta(days=40))  # outside the window
    days = selectors.website_page_views_per_day(website=website)
    assert len(days) == 30
    assert days[-1] == (now.date(), 4)
    assert dict(days)[(now - dt.timedelta(days=3)).date()] == 2
    assert sum(v for _, v in days) == 6
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(reverse("admin:tracking_website_change", args=[website.pk])).content.decode()
    assert "6 page views in the last 30 days" in page
    assert 'aria-label="6 page views in the last 30 days"' in page
    chart_queries = [q for q in captured if "tracking_pageview" in q["sql"]]
    assert len(chart_queries) == 1


def test_contact_list_filters_by_event_name(admin_client, website):
    did, did_not = UserContactFactory(name="Did Buy"), UserContactFactory(name="Never Bought")
    services.event_track(contact=did, name="bought", metadata={}, created_at=None, now=timezone.now())
    services.event_track(contact=did_not, name="browsed", metadata={}, created_at=None, now=timezone.now())
    changelist = reverse("admin:contacts_contact_changelist")
    page = admin_client.get(changelist).content.decode()
    assert "?event=bought" in page
    page = admin_client.get(changelist + "?event=bought").content.decode()
    assert "Did Buy" in page and "Never Bought" not in page


def test_contact_list_filters_by_seen_in_last_n_days(admin_client):
    now = timezone.now()
    UserContactFactory(name="Recent Visitor", last_seen_at=now - dt.timedelta(days=2))
    UserContactFactory(name="Old Visitor", last_seen_at=now - dt.timedelta(days=20))
    changelist = reverse("admin:contacts_contact_changelist")
    page = admin_client.get(changelist + "?seen_days=7").content.decode()
    assert "Recent Visitor" in page and "Old Visitor" not in page
    page = admin_client.get(changelist + "?seen_days=25").content.decode()  # any N, not only the listed ones
    assert "Old Visitor" in page
    response = admin_client.get(changelist + "?seen_days=abc")  # the admin's "invalid filter" redirect
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_contact_list_with_tracking_filters_keeps_a_fixed_query_count(admin_client):
    now = timezone.now()
    changelist = reverse("admin:contacts_contact_changelist") + "?seen_days=30&event=bought"

    def make(count):
        for _ in range(count):
            contact = UserContactFactory(last_seen_at=now)
            services.event_track(contact=contact, name="bought", metadata={}, created_at=None, now=now)

    make(3)
    admin_client.get(changelist)  # warm the short-lived filter caches
    few, _ = _queries(admin_client, changelist)
    make(30)
    many, _ = _queries(admin_client, changelist)
    assert few == many


def test_website_add_form_takes_plain_origins_one_per_line_and_shows_no_throwaway_secrets(admin_client):
    from tracking.models import Website

    add = reverse("admin:tracking_website_add")
    form = admin_client.get(add).content.decode()
    assert 'name="identity_secret"' not in form
    assert "app_id" not in form

    response = admin_client.post(
        add,
        {
            "name": "Shop",
            "allowed_origins": "https://Shop.example.com/\n\nhttps://shop.example.com:443\nhttp://localhost:8010",
            "identity_verification": "enforced",
            "tracking_mode": "full",
            "marketing_basis": "consent",
        },
    )
    assert response.status_code == 302
    website = Website.objects.get(name="Shop")
    assert website.allowed_origins == ["https://shop.example.com", "http://localhost:8010"]
    added = [str(m) for m in admin_client.get(response.url).context["messages"]]
    assert any(website.app_id in message for message in added), added  # the real app id, not a discarded one
    page = admin_client.get(reverse("admin:tracking_website_change", args=[website.pk])).content.decode()
    assert website.app_id in page
    assert website.identity_secret in page
    assert "https://shop.example.com\nhttp://localhost:8010</textarea>" in page


def test_a_website_recording_page_views_before_consent_while_its_basis_is_consent_is_told_so(admin_client):
    """New websites start with Full tracking and consent as the analytics basis: the owner is told to settle which."""
    from tracking.models import Website

    fields = {"name": "Shop", "allowed_origins": "https://shop.example.com", "identity_verification": "enforced",
              "marketing_basis": "consent"}  # fmt: skip
    added = admin_client.post(reverse("admin:tracking_website_add"), {**fields, "tracking_mode": "full"}, follow=True)
    said = [str(m) for m in added.context["messages"]]
    assert any("Shop records page views before any consent" in m for m in said), said
    website = Website.objects.get(name="Shop")
    change = reverse("admin:tracking_website_change", args=[website.pk])
    form = admin_client.get(change).context["adminform"].form
    data = {**form.initial, "allowed_origins": "https://shop.example.com", "tracking_mode": "support_only"}
    data = {key: value for key, value in data.items() if value is not None}
    saved = admin_client.post(change, data, follow=True)
    website.refresh_from_db()
    assert website.tracking_mode == Website.TrackingMode.SUPPORT_ONLY, saved.context.get("errors")
    assert not any("before any consent" in str(m) for m in saved.context["messages"])


@pytest.mark.parametrize(
    "origin", ["shop.example.com", "https://shop.example.com/checkout", "ftp://shop.example.com", "https://a:99999"]
)
def test_website_form_names_an_origin_it_refuses(admin_client, origin):
    from tracking.models import Website

    response = admin_client.post(
        reverse("admin:tracking_website_add"),
        {"name": "Shop", "allowed_origins": f"https://ok.example\n{origin}", "identity_verification": "off",
         "tracking_mode": "full", "marketing_basis": "consent"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "is not an origin like https://example.com" in response.content.decode()
    assert not Website.objects.exists()


def test_the_add_form_enforces_identity_verification_unless_the_owner_switches_it_off(admin_client):
    from tracking.models import Website

    form = admin_client.get(reverse("admin:tracking_website_add")).content.decode()
    assert '<option value="enforced" selected>' in form

    response = admin_client.post(
        reverse("admin:tracking_website_add"),
        {"name": "Blog", "allowed_origins": "https://blog.example", "identity_verification": "off",
         "tracking_mode": "full", "marketing_basis": "consent"},
        follow=True,
    )  # fmt: skip

    blog = Website.objects.get(name="Blog")
    assert blog.identity_verification == Website.IdentityVerification.OFF
    said = " ".join(str(m) for m in response.context["messages"])
    assert "Identity verification is off for Blog" in said and "conversations" in said


def test_the_change_page_of_a_website_without_verification_explains_the_risk(admin_client):
    from tracking.models import Website

    off = services.website_create(
        name="Blog", allowed_origins=["https://blog.example"], identity_verification=Website.IdentityVerification.OFF
    )
    enforced = services.website_create(name="Shop", allowed_origins=["https://shop.example"])

    off_page = admin_client.get(reverse("admin:tracking_website_change", args=[off.pk])).content.decode()
    enforced_page = admin_client.get(reverse("admin:tracking_website_change", args=[enforced.pk])).content.decode()

    assert "Identity verification is off for Blog" in off_page
    assert "read that user&#x27;s conversations" in off_page
    assert "parley-risk" not in enforced_page


def test_switching_verification_off_warns_and_switching_it_back_on_does_not(admin_client):
    from tracking.models import Website

    website = services.website_create(name="Shop", allowed_origins=["https://shop.example"])
    change = reverse("admin:tracking_website_change", args=[website.pk])
    fields = {"name": "Shop", "allowed_origins": "https://shop.example",
              "tracking_mode": "full", "marketing_basis": "consent", "analytics_basis": "consent", "ask_email_after_seconds": "120", "email_unread_replies_after_minutes": "5"}  # fmt: skip

    off = admin_client.post(change, {**fields, "identity_verification": "off"}, follow=True)
    on = admin_client.post(change, {**fields, "identity_verification": "enforced"}, follow=True)

    assert any("Identity verification is off" in str(m) for m in off.context["messages"])
    assert not any("Identity verification is off" in str(m) for m in on.context["messages"])
    assert Website.objects.get().identity_verification == Website.IdentityVerification.ENFORCED
    # Each server process keeps the website a while: the teammate is told when widgets follow.
    assert any("within 30 seconds" in str(m) for m in on.context["messages"])


def test_the_identity_secret_is_read_only_and_rotated_only_by_a_confirmed_post(admin_client):
    """Issue 12 walk: the secret was a plain editable field (a typo broke every sign-in)."""
    from django.contrib.auth import get_user_model

    from tracking.models import Website

    website = services.website_create(name="Shop", allowed_origins=["https://shop.example"])
    old = website.identity_secret
    change = reverse("admin:tracking_website_change", args=[website.pk])
    rotate = reverse("admin:tracking_website_rotate_secret", args=[website.pk])
    page = admin_client.get(change).content.decode()
    assert 'name="identity_secret"' not in page and '<code id="parley-identity-secret"' in page and old in page
    assert f'formaction="{rotate}"' in page and "window.confirm" in page
    assert "(in SECONDS)" in page and "(in MINUTES)" in page  # both delays say their unit
    assert 'wrap="off"' not in page  # the snippet's long lines wrap instead of being cut off

    fields = {"name": "Shop", "allowed_origins": "https://shop.example", "identity_secret": "typed-by-hand",
              "identity_verification": "enforced", "tracking_mode": "full", "marketing_basis": "consent"}  # fmt: skip
    admin_client.post(change, fields)
    assert Website.objects.get().identity_secret == old  # a posted secret is ignored

    assert admin_client.get(rotate).status_code == 405
    viewer = get_user_model().objects.create_user("v", "v@x.test", "x", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename="view_website"))
    from django.test import Client

    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert viewer_client.post(rotate).status_code == 403
    assert Website.objects.get().identity_secret == old

    response = admin_client.post(rotate, follow=True)
    new = Website.objects.get().identity_secret
    assert new != old and len(new) == len(old) and new in response.content.decode()
    assert admin_client.post(reverse("admin:tracking_website_rotate_secret", args=[999999])).status_code == 404


def test_one_page_view_reads_in_the_singular(admin_client, website):
    _history(ContactFactory(), website, page_views=1, when=timezone.now())
    page = admin_client.get(reverse("admin:tracking_website_change", args=[website.pk])).content.decode()
    assert 'aria-label="1 page view in the last 30 days"' in page
    assert "1 page view in the last 30 days (UTC)" in page


def test_an_event_done_once_reads_once_in_the_singular():
    from tracking.models import EventSummary

    now = timezone.now()
    assert str(EventSummary(name="signed-up", count=1, first_at=now, last_at=now)) == "signed-up (1 time)"
    assert str(EventSummary(name="paid", count=3, first_at=now, last_at=now)) == "paid (3 times)"


def test_the_events_list_shows_metadata_as_words(admin_client, website):
    """A walk read `{"source": "demo"}` in the Events list."""
    contact = UserContactFactory()
    now = timezone.now()
    services.event_track(
        contact=contact, name="ordered", metadata={"source": "<b>demo</b>", "items": 3}, created_at=None, now=now
    )
    services.event_track(contact=contact, name="viewed", metadata={}, created_at=None, now=now)
    page = admin_client.get(reverse("admin:tracking_event_changelist")).content.decode()
    shown = re.findall(r'<td class="field-metadata_shown">([^<]*)</td>', page)
    assert sorted(shown) == ["items: 3; source: &lt;b&gt;demo&lt;/b&gt;", "—"]  # by key, on either database
