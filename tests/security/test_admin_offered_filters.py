"""A changelist filters only on what it offers (attacker review): Django's admin would accept any lookup on
any of the model's own fields, so a read-only teammate could learn a hidden value one character at a time
(`?identity_secret__startswith=a`) or stall a worker with one regular expression."""

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from api.models import WebhookSubscription
from common.admin_guard import _offered_fields
from contacts.models import Tag
from contacts.permissions import VIEWER_GROUP, ensure_teammate_groups
from tests.contacts.factories import TagFactory, UserContactFactory
from tracking.models import Website

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client():
    ensure_teammate_groups()
    viewer = get_user_model().objects.create_user("val", "val@parley.test", "x", is_staff=True)
    viewer.groups.add(Group.objects.get(name=VIEWER_GROUP))
    client = Client()
    client.force_login(viewer)
    return client


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_a_viewer_cannot_guess_the_identity_secret_through_a_filter(viewer_client):
    website = Website.objects.create(name="Shop", identity_secret="abcdef0123456789")
    assert viewer_client.get(_changelist(Website)).status_code == 200
    for guess in ("a", "b", website.identity_secret):
        answer = viewer_client.get(_changelist(Website), {"id": website.pk, "identity_secret__startswith": guess})
        assert answer.status_code == 400
        assert b"identity_secret__startswith" in answer.content and b"Shop" not in answer.content


def test_nor_a_webhook_secret(admin_client):
    answer = admin_client.get(_changelist(WebhookSubscription), {"secret__startswith": "s"})
    assert answer.status_code == 400 and b"offers no filter" in answer.content


@pytest.mark.parametrize(
    "lookup", ["email__regex", "name__iregex", "companies__name__regex", "tags__name__iregex", "email__regex__exact"]
)
def test_regular_expression_filters_are_refused_on_any_field(viewer_client, lookup):
    UserContactFactory(name="a" * 30 + "!")
    answer = viewer_client.get("/admin/contacts/contact/", {lookup: "^(a+)+$"})
    assert answer.status_code == 400 and b"regular expression" in answer.content


def test_what_the_list_offers_still_filters(admin_client):
    jo, _ = UserContactFactory(role="user", name="Jo"), UserContactFactory(role="lead", name="Lee")
    for params in ({"role__exact": "user"}, {"role": "user"}, {"seen": "today"}, {"q": "Jo"}, {"o": "1", "p": "1"}):
        answer = admin_client.get("/admin/contacts/contact/", params)
        assert answer.status_code == 200, params
    listed = admin_client.get("/admin/contacts/contact/", {"role__exact": "user"}).context["cl"].result_list
    assert [contact.pk for contact in listed] == [jo.pk]
    # A relation (what another page links with) and the id stay open: they show nothing the link did not.
    assert admin_client.get("/admin/contacts/contact/", {"id__exact": jo.pk}).status_code == 200


def test_a_refused_filter_is_explained_in_the_admin_with_a_way_back_to_the_list(viewer_client):
    """New-user walk: the refusal was a bare text page. It is the admin's page now, and its link drops only the
    refused parameter."""
    answer = viewer_client.get("/admin/contacts/contact/?role__exact=user&name__startswith=Jo&seen=today")
    assert answer.status_code == 400
    page = answer.content.decode()
    assert 'id="site-name"' in page and 'id="nav-sidebar"' in page  # the admin's header and navigation
    assert "<code>name__startswith</code>: this list offers no filter on that field" in page
    back = _way_back(page)
    assert back == "/admin/contacts/contact/?role__exact=user&seen=today"
    assert viewer_client.get(back).status_code == 200


def test_the_way_back_leaves_out_every_parameter_that_cannot_be_sent_back(viewer_client):
    answer = viewer_client.get("/admin/contacts/contact/?q=Jo%00&role__exact=user&seen=to%00day")
    assert answer.status_code == 400
    assert "<code>q</code>: " in answer.content.decode()
    assert _way_back(answer.content.decode()) == "/admin/contacts/contact/?role__exact=user"


def _way_back(page: str) -> str:
    link = re.search(r'<a class="button" href="([^"]+)">Show the list without this filter</a>', page)
    return link.group(1).replace("&amp;", "&")


def test_every_changelist_refuses_a_filter_on_a_field_it_does_not_offer(admin_client, rf, superuser):
    request = rf.get("/")
    request.user = superuser
    checked = 0
    for model, model_admin in admin.site._registry.items():
        offered = _offered_fields(model_admin, request)
        hidden = [
            field.name
            for field in model._meta.concrete_fields
            if not field.is_relation and not field.primary_key and field.name not in offered
        ]
        if not hidden:
            continue
        answer = admin_client.get(_changelist(model), {f"{hidden[0]}__startswith": "a"})
        assert answer.status_code == 400, (model, hidden[0], answer.status_code)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    "selected", ["²", "٣", "1²", "1.5", "<b>1</b>", "1e400", "99999999999999999999999999999999", "\x00"]
)
def test_an_action_posted_with_ids_that_are_no_ids_is_a_400_not_a_500(admin_client, selected):
    tag = TagFactory(name="Spare")
    for model, kept in ((Tag, tag.pk), (Website, None)):
        posted = {"action": "delete_selected", "_selected_action": [selected, *([kept] if kept else [])], "post": "yes"}
        answer = admin_client.post(_changelist(model), posted)
        assert answer.status_code == 400
        assert "_selected_action" in answer.content.decode()
    assert Tag.objects.filter(pk=tag.pk).exists()
    # Ids of rows that do not exist are only found missing, as before.
    assert admin_client.post(
        _changelist(Tag), {"action": "delete_selected", "_selected_action": ["-1"]}
    ).status_code in (200, 302)
