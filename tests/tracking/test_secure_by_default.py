"""Secure by default: a new website identifies users only with a valid user_hash; without one the
visitor stays anonymous, sees nothing of the user and is told why (docs/architecture.md, "Widget
trust rules")."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from contacts.models import Contact
from conversations import services as conversations
from tests.contacts.factories import UserContactFactory
from tests.tracking.conftest import ORIGIN, Widget, user_hash
from tracking.models import Website
from tracking.services import website_create
from tracking.widget_auth import widget_token_read

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_website(db):
    return website_create(name="Shop", allowed_origins=[ORIGIN])  # as an owner creates it: no options


@pytest.fixture
def victim(new_website):
    user = UserContactFactory(external_id="ic-42", email="victim@example.com", name="Victim")
    conversations.conversation_start_by_contact(contact=user, body="My card ends in 4242", website=new_website)
    return user


def _conversations(client, website, token):
    return client.get(f"/widget-api/{website.app_id}/conversations", {"token": token}, HTTP_ORIGIN=ORIGIN).json()


def _assert_anonymous_and_told_why(client, website, widget, answer, victim):
    assert answer["contact"]["role"] == "visitor"
    assert answer["conversations"] == [] and answer["unread_count"] == 0
    assert [w["field"] for w in answer["warnings"]] == ["user.user_hash"]
    assert "user_hash" in answer["warnings"][0]["message"]
    assert widget_token_read(token=widget.token, website_id=website.pk).contact_id != victim.pk
    assert _conversations(client, website, widget.token)["conversations"] == []


def test_a_new_website_enforces_identity_verification(new_website):
    assert new_website.identity_verification == Website.IdentityVerification.ENFORCED
    assert Website().identity_verification == Website.IdentityVerification.ENFORCED


def test_create_website_enforces_verification_unless_told_otherwise(db):
    call_command("create_website", "--name", "Shop", "--origin", ORIGIN, stdout=(out := io.StringIO()))
    call_command(
        "create_website", "--name", "Blog", "--origin", ORIGIN, "--identity-verification", "off", stdout=io.StringIO()
    )

    app_id = out.getvalue().splitlines()[-1]
    assert Website.objects.get(app_id=app_id).identity_verification == "enforced"
    assert Website.objects.get(name="Blog").identity_verification == "off"


@pytest.mark.parametrize(
    "claim",
    [
        {"user_id": "ic-42"},
        {"user_id": "ic-42", "user_hash": "0" * 64},
        {"email": "victim@example.com"},
        {"user_id": "ic-42", "email": "victim@example.com", "name": "Mallory", "custom_attributes": {"plan": "x"}},
    ],
)
def test_an_unsigned_boot_naming_a_user_stays_anonymous_and_says_why(client, new_website, victim, claim):
    widget = Widget(client, new_website)

    response = widget.ping(user=claim)

    assert response.status_code == 200
    _assert_anonymous_and_told_why(client, new_website, widget, response.json(), victim)
    visitor = Contact.objects.exclude(pk=victim.pk).get()
    assert (visitor.role, visitor.name, visitor.external_id, visitor.custom_attributes) == ("visitor", "", None, {})
    victim.refresh_from_db()
    assert (victim.name, victim.email) == ("Victim", "victim@example.com")
    assert widget.ping().json().get("warnings") is None  # the next page, without the claim, has nothing to say


def test_a_valid_hash_still_signs_the_user_in(client, new_website, victim):
    widget = Widget(client, new_website)

    answer = widget.ping(user={"user_id": "ic-42", "user_hash": user_hash(new_website, "ic-42")}).json()

    assert answer["contact"] == {"role": "user", "name": "Victim"}
    assert len(answer["conversations"]) == 1
    assert "warnings" not in answer


def test_a_browser_holding_a_users_token_is_not_kept_signed_in_when_the_site_names_someone_unsigned(
    client, new_website, victim
):
    widget = Widget(client, new_website)
    widget.ping(user={"user_id": "ic-42", "user_hash": user_hash(new_website, "ic-42")})

    response = widget.ping(user={"user_id": "ic-43", "user_hash": "f" * 64})  # another user, a broken hash

    _assert_anonymous_and_told_why(client, new_website, widget, response.json(), victim)
    assert not Contact.objects.filter(external_id="ic-43").exists()


def test_the_update_endpoint_answers_the_same_way(client, new_website, victim):
    widget = Widget(client, new_website)
    widget.ping()

    response = widget.post("update", {"token": widget.token, "user": {"user_id": "ic-42", "name": "Mallory"}})

    assert response.status_code == 200
    answer = response.json()
    widget.token = answer["token"]
    assert answer["contact"] == {"role": "visitor", "name": ""}
    assert [w["field"] for w in answer["warnings"]] == ["user.user_hash"]
    assert _conversations(client, new_website, widget.token)["conversations"] == []
    assert Contact.objects.get(pk=victim.pk).name == "Victim"


@pytest.mark.django_db(transaction=True)
def test_websites_created_before_the_change_keep_their_setting():
    executor = MigrationExecutor(connection)
    before = [("tracking", "0007_rejected_attributes")]
    executor.migrate(before)
    OldWebsite = executor.loader.project_state(before).apps.get_model("tracking", "Website")
    OldWebsite.objects.create(name="Legacy", app_id="legacy01", identity_secret="s")  # the old default: off

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert Website.objects.get(app_id="legacy01").identity_verification == Website.IdentityVerification.OFF
    assert website_create(name="New", allowed_origins=[]).identity_verification == "enforced"
