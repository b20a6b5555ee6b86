"""Every admin page a teammate may read opens for them (attacker review, 2026-12-06): a viewer opening an assignment
rule or a saved reply, and an agent opening an assignment rule, got a 500, the form's read-only fields missing from
the form its own code set up. Walked over the demo data: every registered model's first row."""

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from contacts.permissions import AGENT_GROUP, VIEWER_GROUP

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("group", [VIEWER_GROUP, AGENT_GROUP])
def test_each_change_page_a_teammate_may_read_opens(group, teammate_client):
    call_command("seed_demo", contacts=40, seed=7, stdout=io.StringIO())
    client = teammate_client(group)
    request = client.get("/admin/").wsgi_request
    opened = []
    for model, model_admin in list(admin.site._registry.items()):
        info = (model._meta.app_label, model._meta.model_name)
        row = model_admin.get_queryset(request).order_by("pk").first()
        if row is None:
            continue
        try:
            url = reverse("admin:{}_{}_change".format(*info), args=[row.pk])
        except NoReverseMatch:
            continue
        answer = client.get(url)  # the test client raises what a 500 would hide
        assert answer.status_code in (200, 302, 403), (url, answer.status_code)
        if answer.status_code == 200:
            opened.append(model._meta.label)
    # The two pages the review found broken, and the rest of the walk really ran.
    assert {"conversations.AssignmentRule", "conversations.SavedReply"} <= set(opened)
    assert len(opened) >= 10
