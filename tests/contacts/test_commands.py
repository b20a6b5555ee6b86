import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from api.models import ApiToken, hash_token
from contacts.models import Contact, ContactTag
from conversations.services.threads import teammate_display_name
from tracking.models import Website

pytestmark = pytest.mark.django_db


def _last_line(output: io.StringIO) -> str:
    return output.getvalue().strip().splitlines()[-1]


def test_create_api_token_prints_token_last_and_stores_only_its_hash(teammate):
    out = io.StringIO()
    call_command("create_api_token", teammate.username, stdout=out)
    raw = _last_line(out)
    token = ApiToken.objects.get()
    assert token.key_hash == hash_token(raw) != raw
    assert raw not in str(ApiToken.objects.values().get())


def test_create_api_token_for_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_api_token", "ghost")


def test_create_website_prints_app_id_last():
    out = io.StringIO()
    call_command("create_website", "--name", "Shop", "--origin", "https://Shop.example.com/", stdout=out)
    website = Website.objects.get(app_id=_last_line(out))
    assert website.allowed_origins == ["https://shop.example.com"]


def test_create_website_refuses_a_malformed_origin():
    with pytest.raises(CommandError, match="is not an origin"):
        call_command("create_website", "--name", "Shop", "--origin", "ftp:/nope")
    assert not Website.objects.exists()


def test_seed_demo_creates_contacts_of_every_role():
    call_command("seed_demo", "--contacts", "300", "--seed", "1", stdout=io.StringIO())
    assert Contact.objects.count() == 300
    assert set(Contact.objects.values_list("role", flat=True)) == {"visitor", "lead", "user"}
    assert ContactTag.objects.exists()
    # Each contact's session count is the sessions it has (new-user walk: "Web sessions: 5" above one listed).
    from django.db.models import Count

    counted = Contact.objects.annotate(listed=Count("web_sessions")).values_list("web_sessions_count", "listed")
    assert all(count == listed for count, listed in counted) and any(count for count, _ in counted)


def test_contacts_created_after_seeding_get_fresh_ids():
    call_command("seed_demo", "--contacts", "50", "--seed", "2", stdout=io.StringIO())
    from contacts.services import contact_create

    created = contact_create(role="lead", email="after.seed@example.com")
    assert created.pk > max(Contact.objects.exclude(pk=created.pk).values_list("pk", flat=True))


def test_seed_demo_refuses_negative_count():
    with pytest.raises(CommandError):
        call_command("seed_demo", "--contacts", "-1")


def test_setup_demo_is_idempotent_and_prints_where_to_go(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first, second = io.StringIO(), io.StringIO()
    call_command("setup_demo", "--contacts", "50", stdout=first)
    # A demo set up by an earlier version, before these settings: the next run brings it to them.
    Website.objects.update(
        marketing_basis=Website.MarketingBasis.CONSENT, analytics_basis=Website.AnalyticsBasis.CONSENT
    )
    call_command("setup_demo", "--contacts", "50", stdout=second)
    assert Contact.objects.count() == 50
    assert Website.objects.count() == 1
    assert Website.objects.get().identity_verification == Website.IdentityVerification.ENFORCED
    # Its in-app messages reach the demo visitor (a new website's "Consent" basis would skip them).
    assert Website.objects.get().marketing_basis == Website.MarketingBasis.LEGITIMATE_INTEREST
    # It records page views from the first one, and its record of processing says on which basis.
    assert Website.objects.get().analytics_basis == Website.AnalyticsBasis.LEGITIMATE_INTEREST
    assert "/admin/" in second.getvalue() and "password:" in second.getvalue()
    assert (tmp_path / "demo-admin-password").read_text() in second.getvalue()
    # Visitors see the demo teammate by a person's name, not by the login "admin".
    admin = get_user_model().objects.get(username="admin")
    assert teammate_display_name(admin) == "Sam"  # no shop name hardcoded: the demo serves any website
    assert admin.first_name == "Sam"  # the users list names the same person as the header
