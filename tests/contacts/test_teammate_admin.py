"""Adding a teammate in one form (contacts/admin/teammates.py): name, email and role with the login (a password set
now here; invitations: test_teammate_access.py)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from contacts.permissions import AGENT_GROUP, PARLEY_APPS, VIEWER_GROUP, ensure_teammate_groups

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


def test_a_password_set_now_is_required_twice(admin_client):
    response = admin_client.post(reverse(ADD), _form(usable_password="true", password1="", password2=""))
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


@pytest.mark.parametrize(
    "email", ["\u212aim@lamps.example", "kim@\uff4c\uff41\uff4d\uff50\uff53.example", " KIM@lamps.example"]
)
def test_an_email_another_teammate_has_is_refused_in_any_of_its_spellings(admin_client, email):
    get_user_model().objects.create_user("sam", "kim@lamps.example", "x", is_staff=True)
    response = admin_client.post(reverse(ADD), _form(email=email))
    assert response.context["adminform"].form.errors["email"] == ["A teammate already has this email."]


INVISIBLE = "Remove the invisible or blank characters from this address (a soft hyphen, a zero-width space…)."
UNWRITABLE = "This address's domain cannot be written for mail: check it for stray characters."
ASCII_ONLY = "Use an address whose part before the @ is plain ASCII (letters a to z, digits, dots, dashes…)."


@pytest.mark.parametrize(
    ("email", "error"),
    [
        ("kim@lamps\u00ad.example", INVISIBLE),
        ("kim@lam\u200bps.example", INVISIBLE),
        ("kim@lamps\u3164.example", INVISIBLE),  # a Hangul filler: drawn empty
        ("kim@lamps.example\uffa0", INVISIBLE),
        ("kim@lamps\u2800.example", INVISIBLE),  # the blank Braille cell
        ("kim@lamps\u2028.example", INVISIBLE),  # a line separator
        ("kim@lamps\u3000.example", INVISIBLE),  # an ideographic space
        ("kim@lamps\u034f.example", INVISIBLE),  # a combining grapheme joiner: IDNA drops it, mail goes to lamps
        ("kim@lamps.example\ufe0f", INVISIBLE),  # a variation selector
        ("kim@lam\u180bps.example", INVISIBLE),  # a Mongolian variation selector
        ("kim@lam\u17b4ps.example", INVISIBLE),  # a Khmer inherent vowel, drawn as nothing
        ("k\u0131m@lamps.example", ASCII_ONLY),  # a dotless i (U+0131) passing for an i
        ("k\u00efm@lamps.example", "Enter a valid email address."),  # Django's own check
        ("kim@lamps\ufffd.example", UNWRITABLE),  # the replacement character: no domain may hold it
        ("kim@lamps\ue000.example", UNWRITABLE),  # a private-use character
        ("\u2060kim@lamps.example", "Enter a valid email address."),  # Django's own check, before Parley's
    ],
)
def test_an_email_with_invisible_characters_is_refused_as_a_lookalike(admin_client, email, error):
    response = admin_client.post(reverse(ADD), _form(email=email))
    assert response.context["adminform"].form.errors["email"] == [error]
    assert not get_user_model().objects.filter(username="kim").exists()


def test_a_teammates_page_refuses_another_teammates_email_too(admin_client):
    get_user_model().objects.create_user("sam", "sam@lamps.example", "x", is_staff=True)
    kim = get_user_model().objects.create_user("kim", "kim@lamps.example", "x", is_staff=True)
    page = reverse("admin:auth_user_change", args=[kim.pk])
    fields = {"username": "kim", "email": "SAM@lamps.example", "is_active": "on", "is_staff": "on"}
    fields |= {"date_joined_0": "2026-12-01", "date_joined_1": "10:00:00"}
    response = admin_client.post(page, fields)
    assert response.context["adminform"].form.errors["email"] == ["A teammate already has this email."]
    assert admin_client.post(page, {**fields, "email": "kim@lamps.example"}).status_code == 302  # its own: kept
    # Two older accounts that share an address are still saved as they are.
    get_user_model().objects.filter(pk=kim.pk).update(email="sam@lamps.example")
    assert admin_client.post(page, {**fields, "email": "sam@lamps.example", "first_name": "Kim"}).status_code == 302


def _user_manager(client: Client):
    """A staff user an operator gave the users' permissions (no Parley group holds them)."""
    lead = get_user_model().objects.create_user("lead", "lead@lamps.example", "x", is_staff=True)
    lead.user_permissions.add(*Permission.objects.filter(codename__in=["add_user", "change_user", "delete_user"]))
    client.force_login(lead)
    return lead


def test_only_a_superuser_grants_more_than_a_role_or_touches_a_superuser(superuser):
    client = Client()
    lead = _user_manager(client)
    page = reverse("admin:auth_user_change", args=[lead.pk])
    fields = {"username": "lead", "email": "lead@lamps.example", "is_active": "on", "is_staff": "on"}
    fields |= {"is_superuser": "on", "date_joined_0": "2026-12-01", "date_joined_1": "10:00:00"}
    fields |= {"user_permissions": [p.pk for p in Permission.objects.all()[:3]]}
    assert client.post(page, fields).status_code == 302
    lead.refresh_from_db()
    assert not lead.is_superuser and lead.user_permissions.count() == 3  # the flag and the grants: read-only
    assert "is_superuser" in client.get(page).context["adminform"].readonly_fields
    for url in (
        reverse("admin:auth_user_change", args=[superuser.pk]),
        reverse("admin:auth_user_password_change", args=[superuser.pk]),
        reverse("admin:auth_user_delete", args=[superuser.pk]),
    ):
        assert (
            client.post(url, {"password1": "new-pass-xyz-2026!", "password2": "new-pass-xyz-2026!"}).status_code == 403
        )
    superuser.refresh_from_db()
    assert superuser.is_active and not superuser.check_password("new-pass-xyz-2026!")
    # They add teammates, but give no role whose rights they do not hold (an agent's, here): a superuser gives it.
    form = client.get(reverse(ADD)).context["adminform"].form
    assert list(form.fields["role"].choices) == [("", "No role: a superuser gives them one")]
    assert "role" in client.post(reverse(ADD), _form()).context["adminform"].form.errors
    assert client.post(reverse(ADD), _form(role="")).status_code == 302
    assert not get_user_model().objects.get(username="kim").groups.exists()


def test_adding_a_teammate_leaves_the_roles_permissions_as_the_operator_set_them(admin_client):
    ensure_teammate_groups()
    agent = Group.objects.get(name=AGENT_GROUP)
    agent.permissions.remove(*Permission.objects.filter(codename__in=["add_apitoken", "change_apitoken"]))
    before = set(agent.permissions.values_list("codename", flat=True))
    assert admin_client.post(reverse(ADD), _form()).status_code == 302
    assert set(agent.permissions.values_list("codename", flat=True)) == before


def test_roles_that_cannot_be_set_up_are_a_form_error_not_a_crash(admin_client):
    Group.objects.all().delete()
    Permission.objects.filter(content_type__app_label__in=PARLEY_APPS).delete()
    response = admin_client.post(reverse(ADD), _form())
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["role"] == [
        "The teammate roles are not set up yet: run manage.py migrate first."
    ]
    assert not get_user_model().objects.filter(username="kim").exists()


def test_roles_deleted_by_hand_are_made_again_when_a_teammate_is_added(admin_client):
    Group.objects.all().delete()
    assert admin_client.post(reverse(ADD), _form(role=VIEWER_GROUP)).status_code == 302
    viewer = Group.objects.get(name=VIEWER_GROUP)
    assert viewer.permissions.filter(codename="view_contact").exists()
    assert list(get_user_model().objects.get(username="kim").groups.all()) == [viewer]


def test_a_teammates_page_changes_their_role_and_keeps_their_other_groups(admin_client):
    ensure_teammate_groups()
    kim = get_user_model().objects.create_user("kim", "kim@lamps.example", "x", is_staff=True)
    night_shift = Group.objects.create(name="night shift")
    kim.groups.add(Group.objects.get(name=AGENT_GROUP), night_shift)
    page = reverse("admin:auth_user_change", args=[kim.pk])
    form = admin_client.get(page).context["adminform"].form
    assert form["role"].initial == AGENT_GROUP
    assert list(form["groups"].field.queryset.values_list("name", flat=True)) == ["night shift"]  # the role: above
    fields = {"username": "kim", "email": "kim@lamps.example", "is_active": "on", "is_staff": "on"}
    fields |= {"date_joined_0": "2026-12-01", "date_joined_1": "10:00:00", "groups": [night_shift.pk]}
    assert admin_client.post(page, {**fields, "role": VIEWER_GROUP}).status_code == 302
    assert sorted(kim.groups.values_list("name", flat=True)) == ["night shift", VIEWER_GROUP]
    assert admin_client.post(page, {**fields, "role": VIEWER_GROUP, "groups": []}).status_code == 302
    assert list(kim.groups.values_list("name", flat=True)) == [VIEWER_GROUP]  # other groups off, the role kept
    assert admin_client.post(page, {**fields, "role": ""}).status_code == 302
    assert list(kim.groups.values_list("name", flat=True)) == ["night shift"]
    response = admin_client.post(page, {**fields, "role": "superuser"})
    assert response.context["adminform"].form.errors["role"][0].startswith("Select a valid choice.")


def test_a_teammate_who_may_change_users_manages_only_accounts_with_no_more_rights_and_grants_nothing(
    superuser, mailoutbox
):
    client = Client()
    lead = _user_manager(client)
    ensure_teammate_groups()
    new_password = {"password1": "a-long-new-password-77", "password2": "a-long-new-password-77"}
    # A viewer has rights the lead has not: taking the account over (its password, its email) would grant them.
    lee = get_user_model().objects.create_user("lee", "lee@lamps.example", "x", is_staff=True)
    lee.groups.add(Group.objects.get(name=VIEWER_GROUP))
    for url in ("admin:auth_user_change", "admin:auth_user_password_change"):
        assert client.post(reverse(url, args=[lee.pk]), new_password).status_code == 403
    # A new teammate without a role yet: the lead sets their password (they are told), but no role nor staff flag.
    pat = get_user_model().objects.create_user("pat", "pat@lamps.example", "x")
    password = reverse("admin:auth_user_password_change", args=[pat.pk])
    assert client.post(password, {**new_password, "usable_password": "true"}).status_code == 302
    assert mailoutbox[-1].to == ["pat@lamps.example"] and "was just set by lead" in mailoutbox[-1].body
    page = reverse("admin:auth_user_change", args=[pat.pk])
    fields = {"username": "pat", "email": "pat@lamps.example", "is_active": "on", "is_staff": "on"}
    fields |= {"date_joined_0": "2026-12-01", "date_joined_1": "10:00:00", "role": AGENT_GROUP}
    assert client.post(page, fields).status_code == 302
    pat.refresh_from_db()
    assert not pat.is_staff and not pat.groups.exists()
    # Their own password: on "Change password", with the current one.
    own = client.get(reverse("admin:auth_user_password_change", args=[lead.pk]))
    assert own["Location"] == reverse("admin:password_change")


def test_teammates_are_found_under_their_own_name_in_the_admin(admin_client):
    from django.apps import apps

    from contacts.apps import ContactsConfig

    assert isinstance(apps.get_app_config("contacts"), ContactsConfig)  # its ready() connects the signals
    page = admin_client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert '<a href="/admin/auth/">Teammates</a>' in page
    assert "Authentication and Authorization" not in admin_client.get("/admin/").content.decode()


def test_a_weak_password_is_refused_on_the_password_field_not_its_confirmation(admin_client):
    weak = "aaaaaaaaaaaaaaa"
    form = admin_client.post(reverse(ADD), _form(password1=weak, password2=weak)).context["adminform"].form
    assert "too few different characters" in " ".join(form.errors["password1"])
    assert "password2" not in form.errors


def test_setting_a_teammates_password_is_one_plain_form(admin_client, mailoutbox):
    kim = get_user_model().objects.create_user("kim", "kim@lamps.example", "x", is_staff=True)
    url = reverse("admin:auth_user_password_change", args=[kim.pk])
    page = admin_client.get(url).content.decode()
    assert "Disable password-based authentication" not in page and "None" not in page
    assert "Choose a new password for <strong>kim</strong>" in page
    weak = admin_client.post(url, {"password1": "kim", "password2": "kim"})
    assert "This password is too short" in " ".join(weak.context["form"].errors["password1"])
    good = "quiet-harbour-lantern-77"
    assert admin_client.post(url, {"password1": good, "password2": good}).status_code == 302
    kim.refresh_from_db()
    assert kim.check_password(good) and mailoutbox[-1].subject == "Your Parley password was changed"


def test_a_deactivated_account_keeps_its_rights_for_who_may_manage_it(superuser):
    # Django says an inactive account has no permissions: reactivated, it has them all again.
    client = Client()
    lead = _user_manager(client)
    ensure_teammate_groups()
    old_boss = get_user_model().objects.create_user("oldboss", "oldboss@lamps.example", "x", is_staff=True)
    old_boss.groups.add(Group.objects.get(name=AGENT_GROUP))
    old_boss.is_active = False
    old_boss.save()
    new_password = {"password1": "a-long-new-password-77", "password2": "a-long-new-password-77"}
    assert client.post(reverse("admin:auth_user_password_change", args=[old_boss.pk]), new_password).status_code == 403
    assert client.post(reverse("admin:auth_user_change", args=[old_boss.pk]), {"is_active": "on"}).status_code == 403
    # Their own account, however its id is spelled, takes the current password ("Change password").
    for spelling in (str(lead.pk), f"0{lead.pk}", f"+{lead.pk}"):
        own = client.get(f"/admin/auth/user/{spelling}/password/")
        assert own.status_code == 302 and own["Location"] == reverse("admin:password_change"), spelling


def test_a_teammates_delete_page_lists_what_goes_without_the_links_to_their_role_and_grants(admin_client):
    from django.contrib.auth.models import Group, Permission

    kim = get_user_model().objects.create_user("kim", "kim@lamps.example", "x", is_staff=True)
    kim.groups.add(Group.objects.get_or_create(name="agent")[0])
    kim.user_permissions.add(Permission.objects.get(codename="view_user"))
    page = admin_client.get(reverse("admin:auth_user_delete", args=[kim.pk])).content.decode()
    assert "Are you sure you want to delete the user" in page and '<a href="/admin/auth/user/' in page
    assert "relationship" not in page and "User_groups object" not in page
    assert "<li>Users: 1</li>" in page
    assert admin_client.post(reverse("admin:auth_user_delete", args=[kim.pk]), {"post": "yes"}).status_code == 302
    assert not get_user_model().objects.filter(username="kim").exists()
    assert Group.objects.filter(name="agent").exists()
