"""An agent saves a contact that has tags (a walk, 2026-12-07: every such save was a 500). An agent may not change
a contact's tag rows, so the page shows them read only and the browser sends no tag for them."""

import re

import pytest
from django.urls import reverse

from contacts import services
from contacts.models import Contact, Tag
from contacts.permissions import AGENT_GROUP

pytestmark = pytest.mark.django_db


def _form_as_the_browser_sends_it(html: str) -> dict[str, str]:
    """The page's text inputs, hidden inputs and selects with their values, as a browser posts them unchanged."""
    data = {}
    for attributes in re.findall(r"<input([^>]*)>", html):
        name, value = re.search(r'name="([^"]*)"', attributes), re.search(r'value="([^"]*)"', attributes)
        kind = re.search(r'type="([^"]*)"', attributes)
        if name and not (kind and kind.group(1) in ("checkbox", "submit", "file")):
            data[name.group(1)] = value.group(1) if value else ""
    for name, options in re.findall(r'<select[^>]*name="([^"]*)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', options)
        data[name] = chosen.group(1) if chosen else ""
    return data


def test_an_agent_saves_a_tagged_contact_and_its_tags_stay(teammate_client):
    contact = Contact.objects.create(name="Ann", role=Contact.Role.USER, external_id="u1")
    for name in ("vip", "beta"):
        services.contact_tag(contact=contact, tag=Tag.objects.create(name=name))
    agent = teammate_client(AGENT_GROUP)
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    data = _form_as_the_browser_sends_it(agent.get(url).text)
    assert "tag_links-0-id" in data and "tag_links-0-tag" not in data  # the rows, read only
    answer = agent.post(url, {**data, "phone": "+44 20 7946 0018", "_continue": "1"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    contact.refresh_from_db()
    assert contact.phone == "+44 20 7946 0018"
    assert sorted(contact.tags.values_list("name", flat=True)) == ["beta", "vip"]


def test_an_agent_adding_a_tag_the_contact_has_is_told_so_and_nothing_is_logged(teammate_client):
    """A re-check: the agent's page said "changed successfully" and its history "Added contact tag “vip”" of a tag the
    contact had already (its row read only, the duplicate check did not count it)."""
    from django.contrib.admin.models import LogEntry

    contact = Contact.objects.create(name="Ann", role=Contact.Role.USER, external_id="u1")
    vip = Tag.objects.create(name="vip")
    services.contact_tag(contact=contact, tag=vip)
    agent = teammate_client(AGENT_GROUP)
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    data = _form_as_the_browser_sends_it(agent.get(url).text)
    data.update({"tag_links-TOTAL_FORMS": "2", "tag_links-1-tag": str(vip.pk), "tag_links-1-contact": str(contact.pk)})
    answer = agent.post(url, data)
    assert answer.status_code == 200
    assert answer.context["inline_admin_formsets"][0].formset.forms[1].errors["tag"] == [
        "This contact already has the tag “vip”."
    ]
    assert not LogEntry.objects.exists()
    assert list(contact.tags.values_list("name", flat=True)) == ["vip"]
