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


VIEW_ONLY = "but not change them: your role does not allow it"


def test_a_list_a_teammates_role_only_reads_says_so_and_why(teammate_client, superuser):
    """A walk found a viewer's company list without checkboxes, actions or Add button, and nothing saying why."""
    viewer, agent = teammate_client(VIEWER_GROUP), teammate_client(AGENT_GROUP)
    answer = viewer.get(reverse("admin:companies_company_changelist"))
    assert answer.status_code == 200
    assert "You can read companies here but not change them: your role does not allow it." in answer.text
    assert "A superuser can give you another role under Teammates." in answer.text
    # Where the role allows a change, and for a superuser, nothing is said.
    assert VIEW_ONLY not in agent.get(reverse("admin:companies_company_changelist")).text
    superuser_client = type(viewer)()
    superuser_client.force_login(superuser)
    assert VIEW_ONLY not in superuser_client.get(reverse("admin:companies_company_changelist")).text
    # An agent's read-only list by role (office hours: the superuser's), and none on a list nobody changes (page
    # views: its admin's own rule), where another role would change nothing.
    assert VIEW_ONLY in agent.get(reverse("admin:conversations_officeschedule_changelist")).text
    page_views = viewer.get(reverse("admin:tracking_pageview_changelist"))
    assert page_views.status_code == 200
    assert VIEW_ONLY not in page_views.text
