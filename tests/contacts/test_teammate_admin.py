"""Adding a teammate in one form (contacts/admin/teammates.py): name, email and role with the login."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups

pytestmark = pytest.mark.django_db
ADD = "admin:auth_user_add"
PASSWORD = "lamp-shop-evening-2026"


def _form(**fields) -> dict:
    return {
        "username": "kim", "first_name": "Kim", "last_name": "Lee", "email": "kim@lamps.example", "role": AGENT_GROUP,
        "password1": PASSWORD, "password2": PASSWORD, **fields,
    }  # fmt: skip


@pytest.mark.parametrize("role", [AGENT_GROUP, VIEWER_GROUP])
def test_a_teammate_added_in_one_form_can_work_in_the_admin_in_their_role(admin_client, role):
    response = admin_client.post(reverse(ADD), _form(role=role))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:auth_user_changelist")  # not on to a second page
    kim = get_user_model().objects.get(username="kim")
    assert (kim.first_name, kim.last_name, kim.email, kim.is_staff, kim.is_superuser) == (
        "Kim", "Lee", "kim@lamps.example", True, False
    )  # fmt: skip
    assert list(kim.groups.values_list("name", flat=True)) == [role]
    assert kim.check_password(PASSWORD)
    teammate = Client()
    assert teammate.login(username="kim", password=PASSWORD)
    inbox = teammate.get(reverse("admin:conversations_conversation_changelist"))
    assert inbox.status_code == 200
    assert teammate.get(reverse("admin:auth_user_changelist")).status_code == 403  # no say over teammates
    listed = admin_client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert role.capitalize() in listed


def test_a_teammate_always_gets_a_password(admin_client):
    response = admin_client.post(reverse(ADD), _form(usable_password="false", password1="", password2=""))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["password1"] == ["This field is required."]
    assert not get_user_model().objects.filter(username="kim").exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not an email"}, "email", "Enter a valid email address."),
        ({"email": ""}, "email", "This field is required."),
        ({"first_name": ""}, "first_name", "This field is required."),
        ({"role": "superuser"}, "role", "Select a valid choice."),
        ({"role": "admin"}, "role", "Select a valid choice."),
        ({"password2": "other"}, "password2", "The two password fields didn"),
    ],
)
def test_a_teammate_form_refuses_what_it_cannot_take_and_says_where(admin_client, fields, field, message):
    response = admin_client.post(reverse(ADD), _form(**fields))
    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    assert not get_user_model().objects.filter(username="kim").exists()


def test_an_email_another_teammate_has_is_refused(admin_client, superuser):
    get_user_model().objects.create_user("sam", "Kim@Lamps.example", "x", is_staff=True)
    response = admin_client.post(reverse(ADD), _form())
    assert response.context["adminform"].form.errors["email"] == ["A teammate already has this email."]


def test_markup_in_a_name_is_shown_as_text(admin_client):
    admin_client.post(reverse(ADD), _form(first_name="<img src=x onerror=alert(1)>"))
    listed = admin_client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "<img src=x" not in listed
    assert "&lt;img src=x onerror=alert(1)&gt;" in listed


@pytest.mark.parametrize("group", [AGENT_GROUP, VIEWER_GROUP])
def test_agents_and_viewers_cannot_add_teammates_or_grant_roles(group):
    ensure_teammate_groups()
    member = get_user_model().objects.create_user("ann", "ann@parley.test", "x", is_staff=True)
    member.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(member)
    assert client.get(reverse(ADD)).status_code == 403
    assert client.post(reverse(ADD), _form(role=AGENT_GROUP)).status_code == 403
    assert not get_user_model().objects.filter(username="kim").exists()
