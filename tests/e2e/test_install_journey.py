"""Journey 4: a site owner adds a website in the admin, pastes the snippet it shows on a page of their
own origin, and signs users in there; the admin shows what the site sent wrong."""

import hashlib
import hmac
import json
import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from contacts import services as contact_services
from contacts.models import Contact, DataAttribute
from conversations import services as conversation_services
from tests.e2e.conftest import needs_endpoints

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def signed_in_page(snippet: str, app_id: str, fields: dict) -> str:
    """What the owner's server renders for a signed-in user: the pasted snippet, its settings filled in."""
    settings_js = "".join(f"\n    {name}: {json.dumps(value)}," for name, value in fields.items())
    return snippet.replace(f'app_id: "{app_id}",', f'app_id: "{app_id}",{settings_js}', 1)


@needs_endpoints("ping", "update", "conversations", "poll")
def test_the_owner_installs_the_admin_snippet_and_only_a_valid_hash_signs_a_user_in(
    host, agent_admin, artifacts, settings, parley_url
):
    settings.PUBLIC_URL = parley_url  # what the admin's snippet points the script at
    ada = contact_services.contact_create(role="user", external_id="u-1001", name="Ada Lovelace", email="ada@lamp.test")
    conversation = conversation_services.conversation_start_by_contact(contact=ada, body="Where is my lamp?")
    kim = get_user_model().objects.create_user("kim", "kim@parley.test", "x", is_staff=True, first_name="Kim")
    conversation_services.conversation_reply_as_teammate(
        conversation=conversation, teammate=kim, body="It ships tomorrow."
    )
    DataAttribute.objects.create(name="plan", data_type="string", options=["free", "pro", "enterprise"])

    # The owner adds the website: a plain origin per line, verification left as it comes (enforced).
    admin = agent_admin.page
    agent_admin.open("/admin/tracking/website/add/")
    admin.fill("#id_name", "Lamp shop")
    admin.fill("#id_allowed_origins", f"{host.origin}/\nhttps://www.lamp.example")
    expect(admin.locator("#id_identity_verification")).to_have_value("enforced")
    admin.click("input[name=_continue]")
    expect(admin.locator(".messagelist")).to_contain_text("was added successfully")
    expect(admin.locator("#id_allowed_origins")).to_have_value(f"{host.origin}\nhttps://www.lamp.example")
    expect(admin.locator(".field-verification_risk")).to_have_count(0)  # nothing to warn about
    snippet = admin.locator(".field-snippet textarea").input_value()
    secret = admin.locator(
        "#parley-identity-secret"
    ).inner_text()  # read-only: what the owner puts in their server config
    admin.screenshot(path=str(artifacts / "install-admin-website-added.png"), full_page=True)
    app_id = re.search(r'app_id: "(\w+)"', snippet).group(1)
    assert f'src="{parley_url}/widget/{app_id}"' in snippet

    def signed(user_id: str) -> str:
        return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()

    # 1. A valid hash: Ada is signed in and sees her conversation.
    ada_fields = {"user_id": "u-1001", "name": "Ada Lovelace", "user_hash": signed("u-1001")}
    host.page.goto(host.add_page("/account", signed_in_page(snippet, app_id, ada_fields)))
    host.wait_booted()
    host.launcher().click()
    expect(host.panel()).to_contain_text("It ships tomorrow.")
    host.screenshot(path=str(artifacts / "install-visitor-signed-in.png"))
    assert host.problems == []

    # 2. A wrong hash (a page that signs with a stale secret, or someone typing another user's id):
    # not signed in, nothing of Ada's shown, and the console says why, once.
    wrong = {"user_id": "u-1001", "name": "Ada Lovelace", "user_hash": signed("u-1001")[::-1]}
    host.page.goto(host.add_page("/account-stale", signed_in_page(snippet, app_id, wrong)))
    host.wait_booted()
    host.launcher().click()
    expect(host.panel()).to_be_visible()
    expect(host.page.locator("parley-messenger textarea")).to_be_visible()  # a new visitor: straight to "write"
    expect(host.panel()).not_to_contain_text("It ships tomorrow.")
    expect(host.panel()).not_to_contain_text("Ada")
    host.screenshot(path=str(artifacts / "install-visitor-wrong-hash.png"))
    assert len(host.problems) == 1, host.problems
    assert host.problems[0].startswith("console.warning: Parley: Not signed in") and "user_hash" in host.problems[0]
    assert Contact.objects.filter(role=Contact.Role.VISITOR).count() == 1
    host.problems.clear()

    # 3. One custom attribute the site gets wrong: the others apply, the console names it, the admin counts it.
    # `company` is Intercom's company object: a plain string there is a shape the site got wrong too.
    with_attributes = {**ada_fields, "plan": "gold", "seats": 3, "department": "Lamps", "company": "Acme Lamps"}
    host.page.goto(host.add_page("/billing", signed_in_page(snippet, app_id, with_attributes)))
    host.wait_booted()
    ada.refresh_from_db()
    assert ada.custom_attributes == {"seats": 3, "department": "Lamps"}
    assert len(host.problems) == 2, host.problems
    plan = next(problem for problem in host.problems if '"plan"' in problem)
    assert plan.startswith('console.warning: Parley: custom attribute "plan" not applied')
    assert "free, pro, enterprise" in plan or "one of" in plan.lower()
    company = next(problem for problem in host.problems if "user.company" in problem)
    assert company.startswith("console.warning: Parley: user.company not applied (the rest was)")

    agent_admin.open("/admin/tracking/rejectedattribute/")
    row = admin.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("plan")
    expect(row.locator(".field-website")).to_contain_text("Lamp shop")
    expect(row.locator(".field-count")).to_have_text("1")
    expect(row.locator(".field-last_example")).to_have_text('"gold"')  # the value itself, not its length
    admin.screenshot(path=str(artifacts / "install-admin-rejected-attribute.png"), full_page=True)
    assert agent_admin.problems == []

    # The owner may still switch verification off: the admin says what that risks, on save and on the page.
    agent_admin.open("/admin/tracking/website/")
    admin.click("text=Lamp shop")
    admin.select_option("#id_identity_verification", "off")
    admin.click("input[name=_continue]")
    expect(admin.locator(".messagelist .warning").first).to_contain_text("Identity verification is off for Lamp shop")
    # And that its page views are recorded before consent while its record of processing says consent.
    expect(admin.locator(".messagelist .warning").nth(1)).to_contain_text("records page views before any consent")
    expect(admin.locator(".field-verification_risk")).to_contain_text("read that user's conversations")
    admin.screenshot(path=str(artifacts / "install-admin-verification-off.png"))
    assert agent_admin.problems == []
