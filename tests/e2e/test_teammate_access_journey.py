"""Journey: teammates' way into the admin, each in a browser of their own. A superuser invites Kim, who chooses a
password from the emailed link and lands in the inbox; a guesser is stopped after a few wrong passwords, and Kim,
locked out with them, gets back in through "Forgotten your login credentials?"."""

import base64
import re

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.oath import hotp, totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from contacts.models import Contact
from conversations import services
from tests.contacts.factories import LeadFactory
from tests.e2e.conftest import ADMIN_PASSWORD, AdminSession, agent_teammate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]
NEW_PASSWORD = "quiet-harbour-lantern-77"
# How many lines an element's text takes on screen.
LINES = (
    "element => { const r = document.createRange(); r.selectNodeContents(element); return r.getClientRects().length; }"
)
MAIL_TIMEOUT_S = 10


def _emailed_link(parley_url: str, to: str) -> str:
    """The link in the last email to `to` (sent by the live server's thread, into this process's outbox)."""
    [message] = [m for m in mail.outbox if m.to == [to]][-1:]
    [link] = re.findall(re.escape(parley_url.rstrip("/")) + r"/admin/\S+", message.body)
    return link


def _new_browser(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    return context, page, problems


def _sign_in(page, parley_url: str, username: str, password: str) -> None:
    page.goto(f"{parley_url.rstrip('/')}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


@pytest.fixture(autouse=True)
def _public_url(settings, parley_url):
    settings.PUBLIC_URL = parley_url.rstrip("/")  # where the emails' links point


def test_an_invited_teammate_chooses_a_password_from_the_email_and_works_in_the_inbox(
    chromium, parley_url, agent_admin, artifacts
):
    page = agent_admin.page
    agent_admin.open(reverse("admin:auth_user_add"))
    page.fill("#id_first_name", "Kim")
    page.fill("#id_email", "kim@lamps.example")
    page.fill("#id_username", "kim")
    expect(page.get_by_label("Email them an invitation to choose their own")).to_be_checked()
    expect(page.locator("#id_password1")).to_be_hidden()  # nothing to type for an invitation
    page.screenshot(path=str(artifacts / "teammate-invite-form.png"), full_page=True)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Invitation sent to kim@lamps.example")
    row = page.locator("#result_list tbody tr", has_text="kim@lamps.example")
    expect(row.locator("td.field-signed_in")).to_have_text("Never (invited)")
    # The invitation may have gone astray: Kim's page sends a new one.
    row.get_by_role("link", name="kim").click()
    expect(page.locator(".field-invitation")).to_contain_text("Sent; they have not chosen a password yet")
    expect(page.get_by_label("Agent")).to_be_checked()
    page.get_by_role("button", name="Save and send a new invitation").click()
    expect(page.locator(".messagelist")).to_contain_text("Invitation sent to kim@lamps.example")
    expect(page).to_have_url(re.compile(r"/admin/auth/user/\d+/change/$"))  # back on Kim's page
    page.screenshot(path=str(artifacts / "teammate-invite-page.png"), full_page=True)
    assert len([m for m in mail.outbox if m.to == ["kim@lamps.example"]]) == 2

    # Kim opens the email's link in a browser of their own, chooses a password and is in.
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Ada"), body="Is the lamp in stock?")
    context, kim, problems = _new_browser(chromium)
    try:
        kim.goto(_emailed_link(parley_url, "kim@lamps.example"))
        expect(kim.locator("#content")).to_contain_text("Choose the password you will sign in with, as kim")
        kim.fill("#id_new_password1", NEW_PASSWORD)
        kim.fill("#id_new_password2", NEW_PASSWORD)
        kim.screenshot(path=str(artifacts / "teammate-invite-welcome.png"), full_page=True)
        kim.get_by_role("button", name="Set my password and sign in").click()
        expect(kim.locator(".messagelist")).to_contain_text("Your password is set, and you are signed in.")
        kim.goto(f"{parley_url.rstrip('/')}{reverse('admin:conversations_conversation_changelist')}")
        expect(kim.locator("#result_list")).to_contain_text("Is the lamp in stock?")
        kim.screenshot(path=str(artifacts / "teammate-invite-inbox.png"), full_page=True)
        # An agent may not add teammates: the refusal says why and what to do.
        kim.goto(f"{parley_url.rstrip('/')}{reverse('admin:auth_user_add')}")
        expect(kim.locator("h1")).to_have_text("You may not do this")
        expect(kim.locator("main")).to_contain_text("ask whoever runs Parley for your team (a superuser)")
        kim.screenshot(path=str(artifacts / "teammate-not-allowed.png"), full_page=True)
        kim.get_by_role("link", name="Back to the admin's home page").click()
        expect(kim).to_have_url(f"{parley_url.rstrip('/')}/admin/")
        # The link worked once.
        kim.goto(_emailed_link(parley_url, "kim@lamps.example"))
        expect(kim.locator("#content")).to_contain_text("This invitation link has expired or was used already")
        assert problems == []
    finally:
        context.close()
    agent_admin.open(reverse("admin:auth_user_changelist"))
    expect(row.locator("td.field-signed_in")).not_to_have_text("Never (invited)")
    boss = page.locator("#result_list tbody tr", has_text="boss@parley.test")
    assert boss.locator("td.field-role").evaluate(LINES) == 1  # "Superuser", never "Superus / er"
    page.screenshot(path=str(artifacts / "teammate-invite-users-list.png"), full_page=True)
    row.get_by_role("link", name="kim").click()
    expect(page.locator(".field-signed_in")).not_to_contain_text("Never")
    expect(page.get_by_role("button", name="Save and send a new invitation")).to_have_count(0)
    assert conversation.pk
    assert agent_admin.problems == []


@pytest.mark.celery
def test_a_guesser_is_stopped_and_the_teammate_gets_back_in_with_a_new_password(
    chromium, parley_url, artifacts, settings, celery_worker_factory, tmp_path
):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    agent_teammate("kim", "Kim")
    # The reset email is the worker's: it finds the teammate and writes the email into this folder.
    mailbox = tmp_path / "mail"
    worker = celery_worker_factory(extra_env={"EMAIL_URL": f"filemail:///{mailbox}", "PUBLIC_URL": parley_url})
    context, page, problems = _new_browser(chromium)
    try:
        for guess in ("123456", "password", "kim2026"):
            _sign_in(page, parley_url, "kim", guess)
            expect(page.locator(".errornote")).to_contain_text("Please enter the correct username and password")
        _sign_in(page, parley_url, "kim", ADMIN_PASSWORD)  # even the right one, now
        expect(page.locator(".errornote")).to_contain_text("Too many failed sign-ins for this account")
        page.screenshot(path=str(artifacts / "teammate-sign-in-locked.png"), full_page=True)

        page.get_by_role("link", name="Forgotten your login credentials?").click()
        page.fill("#id_email", "kim@parley.test")
        page.get_by_role("button", name="Reset my password").click()
        expect(page.locator("#content")).to_contain_text("an email with a link to choose a new password is on its way")
        worker.wait_until(lambda: mailbox.is_dir() and any(mailbox.iterdir()), what="the reset email")
        [email] = [path.read_text() for path in mailbox.iterdir()]
        assert "To: kim@parley.test" in email
        [link] = re.findall(re.escape(parley_url.rstrip("/")) + r"/admin/reset/\S+", email)
        page.goto(link)
        page.fill("#id_new_password1", NEW_PASSWORD)
        page.fill("#id_new_password2", NEW_PASSWORD)
        page.get_by_role("button", name="Change my password").click()
        expect(page.locator("#content")).to_contain_text("Your new password is set")
        page.screenshot(path=str(artifacts / "teammate-password-reset-done.png"), full_page=True)
        page.get_by_role("link", name="Sign in", exact=True).click()
        page.fill("#id_username", "kim")
        page.fill("#id_password", NEW_PASSWORD)
        page.click("input[type=submit]")
        expect(page).to_have_url(f"{parley_url.rstrip('/')}/admin/")
        assert problems == []
    finally:
        context.close()
    assert not Contact.objects.exists()  # a teammate's sign-in makes no contact


def _app_code(key: str) -> str:
    """What an authenticator app given `key` (as the page shows it) reads now."""
    return f"{totp(_secret(key)):06d}"


def _next_app_code(key: str, username: str) -> str:
    """The app's code of the 30 s step after the last one the server took, which it takes next. Not "the code of
    the next step by the clock": a setup code typed at the end of a step and checked in the next one sets the
    device's drift to -1, and the server then refuses the clock's next step (a flaky CI run)."""
    return f"{hotp(_secret(key), TOTPDevice.objects.get(user__username=username).last_t + 1):06d}"


def _secret(key: str) -> bytes:
    return base64.b32decode(key.replace(" ", ""))


def test_a_teammate_turns_on_two_step_sign_in_and_a_superuser_turns_it_off_for_a_lost_phone(
    chromium, parley_url, agent_admin, artifacts, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    agent_teammate("kim", "Kim")
    base = parley_url.rstrip("/")
    context, kim, problems = _new_browser(chromium)
    try:
        _sign_in(kim, parley_url, "kim", ADMIN_PASSWORD)
        kim.get_by_role("link", name="Two-step sign-in").click()
        expect(kim.locator("#content")).to_contain_text(
            "Two-step sign-in is off: your password alone signs you in as kim"
        )
        kim.get_by_role("button", name="Set up an authenticator app").click()
        expect(kim.locator(".qr img")).to_be_visible()
        key = kim.locator("#parley-two-step-key").inner_text()
        kim.screenshot(path=str(artifacts / "two-step-setup.png"), full_page=True)
        kim.get_by_label("Code").fill(_app_code(key))
        kim.get_by_role("button", name="Turn two-step sign-in on").click()
        expect(kim.locator("#content")).to_contain_text("they are shown only now")
        expect(kim.locator("ol.codes li")).to_have_count(10)
        recovery = kim.locator("ol.codes li").first.inner_text()
        kim.screenshot(path=str(artifacts / "two-step-recovery-codes.png"), full_page=True)
        kim.get_by_role("link", name="I have saved them").click()

        # Signing in again: the password, then the app's code.
        context.clear_cookies()
        kim.goto(f"{base}{reverse('admin:conversations_conversation_changelist')}")
        kim.fill("#id_username", "kim")
        kim.fill("#id_password", ADMIN_PASSWORD)
        kim.click("input[type=submit]")
        expect(kim.locator("#content")).to_contain_text("type the 6-digit code it shows for kim")
        kim.screenshot(path=str(artifacts / "two-step-code.png"), full_page=True)
        kim.get_by_label("Code").fill(_next_app_code(key, "kim"))  # the setup's code is spent
        kim.get_by_role("button", name="Sign in", exact=True).click()
        expect(kim).to_have_url(f"{base}{reverse('admin:conversations_conversation_changelist')}")

        # Signing in on a shared computer, Kim changes her mind at the code: the sign-in page, nothing waiting.
        context.clear_cookies()
        _sign_in(kim, parley_url, "kim", ADMIN_PASSWORD)
        kim.get_by_role("button", name="Sign in as someone else").click()
        expect(kim).to_have_url(f"{base}/admin/login/")
        expect(kim.locator("#parley-two-step-waiting")).to_have_count(0)
        expect(kim.locator("#id_username")).to_be_visible()

        # Kim's phone is lost: a recovery code signs in once.
        context.clear_cookies()
        _sign_in(kim, parley_url, "kim", ADMIN_PASSWORD)
        kim.get_by_label("Code").fill(recovery)
        kim.get_by_role("button", name="Sign in", exact=True).click()
        expect(kim).to_have_url(f"{base}/admin/")
        assert problems == []
    finally:
        context.close()

    # The superuser turns it off for Kim, who then signs in with the password alone.
    page = agent_admin.page
    agent_admin.open(reverse("admin:auth_user_changelist"))
    row = page.locator("#result_list tbody tr", has_text="kim@parley.test")
    expect(row.locator("td.field-two_step img")).to_have_attribute("alt", "True")
    row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("turn_off_two_step")
    page.get_by_role("button", name="Go").click()
    # It asks first, naming whose it turns off.
    expect(page.locator("#parley-two-step-off")).to_have_text("kim (Kim)")
    expect(row).to_have_count(0)
    page.screenshot(path=str(artifacts / "two-step-off-confirmation.png"), full_page=True)
    page.get_by_role("button", name="Yes, turn it off").click()
    expect(page.locator(".messagelist")).to_contain_text("Two-step sign-in is off for kim")
    expect(row.locator("td.field-two_step img")).to_have_attribute("alt", "False")
    page.screenshot(path=str(artifacts / "two-step-turned-off.png"), full_page=True)
    assert "changed by boss (a superuser)" in [m for m in mail.outbox if m.to == ["kim@parley.test"]][-1].body
    context, kim, problems = _new_browser(chromium)
    try:
        _sign_in(kim, parley_url, "kim", ADMIN_PASSWORD)
        expect(kim).to_have_url(f"{base}/admin/")
        assert problems == []
    finally:
        context.close()
    assert agent_admin.problems == []


def test_a_teammate_changes_their_password_and_their_other_browser_must_sign_in_again(chromium, parley_url, artifacts):
    """Django's "Change password" pages dropped the header's Inbox and Two-step links and had no way back."""
    agent_teammate("kim", "Kim")
    base = parley_url.rstrip("/")
    laptop, kim, problems = _new_browser(chromium)
    phone, other, other_problems = _new_browser(chromium)
    try:
        for page in (kim, other):
            _sign_in(page, parley_url, "kim", ADMIN_PASSWORD)
            expect(page).to_have_url(f"{base}/admin/")

        # Having a look, then leaving it as it was.
        kim.get_by_role("link", name="Change password").click()
        header = kim.locator("#user-tools")
        expect(header.get_by_role("link", name="Inbox")).to_be_visible()
        expect(header.get_by_role("link", name="Two-step sign-in")).to_be_visible()
        expect(header.get_by_role("link", name="Change password")).to_have_count(0)  # where one is
        kim.screenshot(path=str(artifacts / "password-change-form.png"), full_page=True)
        kim.get_by_role("link", name="Cancel").click()
        expect(kim).to_have_url(f"{base}/admin/")

        # A wrong current password is refused; the right one changes it.
        kim.get_by_role("link", name="Change password").click()
        kim.locator("#id_old_password").fill("not-my-password")
        kim.locator("#id_new_password1").fill(NEW_PASSWORD)
        kim.locator("#id_new_password2").fill(NEW_PASSWORD)
        kim.get_by_role("button", name="Change my password").click()
        expect(kim.locator(".errornote")).to_have_text("Please correct the error below.")
        expect(kim.locator("#content")).to_contain_text("Your old password was entered incorrectly")
        kim.locator("#id_old_password").fill(ADMIN_PASSWORD)
        kim.locator("#id_new_password1").fill(NEW_PASSWORD)
        kim.locator("#id_new_password2").fill(NEW_PASSWORD)
        kim.get_by_role("button", name="Change my password").click()
        expect(kim.locator("#content")).to_contain_text("Your password is changed")
        expect(kim.locator("#user-tools").get_by_role("link", name="Inbox")).to_be_visible()
        kim.screenshot(path=str(artifacts / "password-change-done.png"), full_page=True)
        kim.locator("#content").get_by_role("link", name="Inbox").click()
        expect(kim).to_have_url(re.compile(re.escape(reverse("admin:conversations_conversation_changelist"))))

        # The other browser, signed in with the old password, is asked to sign in again; the new one lets it in.
        other.goto(f"{base}/admin/")
        expect(other).to_have_url(re.compile(r"/admin/login/"))
        _sign_in(other, parley_url, "kim", NEW_PASSWORD)
        expect(other).to_have_url(f"{base}/admin/")
        assert problems == [] and other_problems == []
    finally:
        laptop.close()
        phone.close()


def test_a_viewer_is_told_why_the_company_list_and_a_conversation_offer_no_changes(chromium, parley_url, artifacts):
    """A walk found a viewer's company list without checkboxes, actions or Add button, and their conversation page
    without a reply box, and nothing saying why; an agent beside them gets the list's actions and the reply box, and no
    such note."""
    from django.contrib.auth.models import Group

    from companies.models import Company
    from contacts.models import DataAttribute
    from contacts.permissions import VIEWER_GROUP

    seats = "Number of seats purchased in the last billing cycle"  # a long label, as real ones get
    for name, label in (("plan", "Plan"), ("seats", seats)):
        DataAttribute.objects.create(model=DataAttribute.Model.COMPANY, name=name, label=label)
    acme = Company.objects.create(
        company_id="acme", name="Acme Inc.", custom_attributes={"plan": "Enterprise", "seats": "forty-two"}
    )
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Ada"), body="Where is my order?")
    agent_teammate("vera", "Vera").groups.set([Group.objects.get(name=VIEWER_GROUP)])
    agent_teammate("sam", "Sam")
    sessions = {name: AdminSession(chromium, parley_url, username=name) for name in ("vera", "sam")}
    role = "your role does not allow it. A superuser can give you the Agent role under Teammates."
    try:
        viewer, agent = sessions["vera"].page, sessions["sam"].page
        for session in sessions.values():
            session.open(reverse("admin:companies_company_changelist"))
        expect(viewer.locator("#result_list")).to_contain_text("Acme Inc.")
        expect(viewer.locator("#view-only")).to_have_text(f"You can read companies here but not change them: {role}")
        expect(viewer.locator("select[name=action]")).to_have_count(0)
        viewer.screenshot(path=str(artifacts / "admin-viewer-company-list.png"))
        expect(agent.locator("#result_list")).to_contain_text("Acme Inc.")
        expect(agent.locator("select[name=action]")).to_be_visible()
        expect(agent.locator("#view-only")).to_have_count(0)

        for session in sessions.values():
            session.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
        expect(viewer.locator(".parley-part")).to_contain_text(["Where is my order?"])
        expect(viewer.locator("#view-only")).to_have_text(
            f"You can read this conversation but not reply or change it: {role}"
        )
        expect(viewer.locator("#parley-composer")).to_have_count(0)
        viewer.screenshot(path=str(artifacts / "admin-viewer-conversation.png"), full_page=True)
        expect(agent.locator("#parley-composer")).to_be_visible()
        expect(agent.locator("#view-only")).to_have_count(0)

        # The company's page: its custom attributes by their labels, in words (a re-check saw "Ca  plan: None").
        for session in sessions.values():
            session.open(reverse("admin:companies_company_change", args=[acme.pk]))
        attributes = viewer.locator("dl.parley-attributes")
        expect(attributes.locator("dt")).to_have_text(["Plan", seats])
        expect(attributes.locator("dd")).to_have_text(["Enterprise", "forty-two"])
        expect(viewer.locator("#content")).not_to_contain_text("None")
        # The note sits under the page's History button, not beneath it (its text ran under the button).
        note, history = viewer.locator("#view-only").bounding_box(), viewer.locator(".object-tools").bounding_box()
        assert history["y"] + history["height"] <= note["y"], (history, note)
        viewer.screenshot(path=str(artifacts / "admin-viewer-company-attributes.png"), full_page=True)
        # On a phone, the long label leaves its value room to be read: a walk saw one letter a line.
        viewer.set_viewport_size({"width": 380, "height": 800})
        value = attributes.locator("dd").nth(1)
        assert value.bounding_box()["width"] >= 120, value.bounding_box()
        assert viewer.evaluate("document.documentElement.scrollWidth") <= 380
        viewer.screenshot(path=str(artifacts / "admin-viewer-company-attributes-phone.png"), full_page=True)
        expect(agent.locator("[name=ca__plan]")).to_have_value("Enterprise")
        assert all(session.problems == [] for session in sessions.values())
    finally:
        for session in sessions.values():
            session.close()
