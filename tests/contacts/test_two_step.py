"""Two-step sign-in (contacts/two_step.py, contacts/admin/two_step.py): a code from an authenticator app after the
password, recovery codes, and turning it off (the teammate with their password, a superuser for a lost phone)."""

import base64
import re
import time
from urllib.parse import unquote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from contacts import two_step
from contacts.teammate_access import DEVICE_COOKIE

pytestmark = pytest.mark.django_db
PASSWORD = "lamp-shop-evening-2026"
SETUP = "/admin/two-step/setup/"
CODE_PAGE = "/admin/two-step/"
LOGIN = "/admin/login/"


@pytest.fixture
def kim(db):
    return get_user_model().objects.create_user(
        "kim", "kim@lamps.example", PASSWORD, is_staff=True, first_name="Kim"
    )  # fmt: skip


def app_code(user, *, later: int = 0) -> str:
    """What Kim's authenticator app shows now (or `later` steps of 30 seconds from now)."""
    device = TOTPDevice.objects.filter(user=user).order_by("-pk").first()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0 - later * device.step, digits=device.digits):06d}"


def _pause_over(user) -> None:
    """As if django-otp's pause after a wrong code were over (1, 2, 4… seconds): no test waits for it."""
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=None, throttling_failure_count=0)


def _signed_in(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def _turn_on(client: Client, user) -> list[str]:
    """Kim, signed in, sets up the app and confirms with its code: the recovery codes shown."""
    client.post(SETUP, {"do": "start"})
    page = client.post(SETUP, {"do": "confirm", "code": app_code(user)}).content.decode()
    assert "Two-step sign-in is on." in page
    return re.findall(r"<li>([a-z2-7]{8})</li>", page)


def _password_step(client: Client, next_url: str = "") -> object:
    return client.post(LOGIN + (f"?next={next_url}" if next_url else ""), {"username": "kim", "password": PASSWORD})


def test_a_teammate_turns_it_on_with_an_app_and_gets_recovery_codes_once(client, kim, mailoutbox):
    client.force_login(kim)
    off = client.get(SETUP).content.decode()
    assert (
        "Two-step sign-in is off" in off and 'href="/admin/two-step/setup/"' in client.get("/admin/").content.decode()
    )
    setting_up = client.post(SETUP, {"do": "start"}).content.decode()
    qr = re.search(r'<div class="qr"><img src="data:image/svg\+xml;base64,([^"]+)"', setting_up).group(1)
    assert base64.b64decode(qr).decode().lstrip().startswith("<?xml") and b"otpauth" not in base64.b64decode(qr)
    key = re.search(r'id="parley-two-step-key">([A-Z2-7 ]+)<', setting_up).group(1)
    assert len(key.replace(" ", "")) == 32  # 20 random bytes in base32
    wrong = client.post(SETUP, {"do": "confirm", "code": "000000"}).content.decode()
    assert "This code is not right" in wrong and not two_step.two_step_on(kim)
    _pause_over(kim)
    page = client.post(SETUP, {"do": "confirm", "code": app_code(kim)}).content.decode()
    codes = re.findall(r"<li>([a-z2-7]{8})</li>", page)
    assert len(set(codes)) == 10 and "they are shown only now" in page
    assert two_step.two_step_on(kim)
    assert mailoutbox[-1].subject == "Two-step sign-in is now on for your Parley login"
    later = client.get(SETUP).content.decode()
    assert (
        "Two-step sign-in is on</strong>: signing in as kim asks for a code" in later
        and "Recovery codes left: 10." in later
    )
    assert not any(code in later for code in codes)  # shown once only


def test_the_password_alone_no_longer_signs_in_the_code_does(kim):
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    browser = Client()
    answer = _password_step(browser, next_url="/admin/conversations/conversation/")
    assert answer["Location"] == CODE_PAGE
    assert _signed_in(browser) is None and DEVICE_COOKIE not in answer.cookies
    assert browser.get("/admin/")["Location"].startswith(LOGIN)  # nothing opens before the code
    page = browser.get(CODE_PAGE).content.decode()
    assert "type the 6-digit code it shows for <strong>kim</strong>" in page
    wrong = browser.post(CODE_PAGE, {"code": "123 456"})
    assert "This code is not right" in wrong.content.decode() and _signed_in(browser) is None
    paused = browser.post(CODE_PAGE, {"code": app_code(kim)}).content.decode()  # at once: django-otp's pause
    assert "After a wrong code, the next one is checked only after a pause: try again in 1 second." in paused
    _pause_over(kim)
    answer = browser.post(CODE_PAGE, {"code": app_code(kim, later=1)})  # the next one: an app a little ahead
    assert answer["Location"] == "/admin/conversations/conversation/"
    assert _signed_in(browser) == str(kim.pk) and DEVICE_COOKIE in answer.cookies
    # The same code does not sign in a second browser (a code seen over a shoulder is spent).
    other = Client()
    _password_step(other)
    assert "This code is not right" in other.post(CODE_PAGE, {"code": app_code(kim, later=1)}).content.decode()


def test_a_recovery_code_signs_in_once(kim):
    setup = Client()
    setup.force_login(kim)
    codes = _turn_on(setup, kim)
    browser = Client()
    _password_step(browser)
    typed = f"{codes[0][:4].upper()}-{codes[0][4:]}"  # as people copy them
    home = browser.post(CODE_PAGE, {"code": typed}, follow=True)
    assert home.redirect_chain[-1][0] == "/admin/"
    assert "You signed in with a recovery code: 9 left." in home.content.decode()
    again = Client()
    _password_step(again)
    assert "This code is not right" in again.post(CODE_PAGE, {"code": codes[0]}).content.decode()
    assert two_step.recovery_codes_left(kim) == 9


def test_codes_are_counted_as_sign_ins_so_a_stolen_password_gets_few_guesses(kim, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    guesser = Client()
    _password_step(guesser)
    for guess in ("111111", "222222", "333333"):
        _pause_over(kim)
        guesser.post(CODE_PAGE, {"code": guess})
    refused = guesser.post(CODE_PAGE, {"code": app_code(kim)}).content.decode()
    assert "Too many failed sign-ins for this account" in refused
    assert _signed_in(guesser) is None


def test_the_code_page_waits_five_minutes_and_needs_the_password_first(client, kim):
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    assert client.get(CODE_PAGE)["Location"] == LOGIN  # no password typed in this browser
    _password_step(client)
    session = client.session
    session["parley_two_step_pending"]["at"] = time.time() - two_step.PENDING_SECONDS - 1
    session.save()
    answer = client.post(CODE_PAGE, {"code": app_code(kim)}, follow=True)
    assert "No sign-in is waiting for a code in this browser: sign in with your password" in answer.content.decode()
    assert _signed_in(client) is None


@pytest.mark.parametrize(
    "code", ["", "%00", "%ED%A0%80", "%D9%A1%D9%A2%D9%A3%D9%A4%D9%A5%D9%A6", "1e400", "%3Cb%3E1%3C/b%3E", "9" * 40,
             "a" * 5000, "abcdefgh"],
)  # fmt: skip
def test_hostile_codes_are_refused_in_words(kim, code):
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    browser = Client()
    _password_step(browser)
    # As a browser sends the form (raw: a lone surrogate's bytes cannot be built as text).
    answer = browser.post(CODE_PAGE, f"code={code}", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200 and _signed_in(browser) is None
    assert "<b>1</b>" not in answer.content.decode()


def test_turning_it_off_takes_the_password_and_is_told(client, kim, mailoutbox):
    client.force_login(kim)
    _turn_on(client, kim)
    wrong = client.post(SETUP, {"do": "off", "password": "not-it"}).content.decode()
    assert "This password is not right." in wrong and two_step.two_step_on(kim)
    page = client.post(SETUP, {"do": "off", "password": PASSWORD}, follow=True).content.decode()
    assert "Two-step sign-in is off: your password alone signs you in." in page
    assert not two_step.two_step_on(kim) and two_step.recovery_codes_left(kim) == 0
    assert mailoutbox[-1].subject == "Two-step sign-in is now off for your Parley login"
    assert _password_step(Client())["Location"] == "/admin/"


def test_new_recovery_codes_take_an_app_code_and_replace_the_old(client, kim):
    client.force_login(kim)
    old = _turn_on(client, kim)
    assert "This code is not right" in client.post(SETUP, {"do": "codes", "code": "000000"}).content.decode()
    _pause_over(kim)
    page = client.post(SETUP, {"do": "codes", "code": app_code(kim, later=1)}).content.decode()
    new = re.findall(r"<li>([a-z2-7]{8})</li>", page)
    assert len(new) == 10 and not set(new) & set(old)
    assert "New recovery codes.</strong> The old ones no longer work." in page
    download = re.search(r'href="data:text/plain;charset=utf-8,([^"]+)" download="parley-recovery-codes-kim.txt"', page)
    assert all(code in unquote(download.group(1)) for code in new)
    browser = Client()
    _password_step(browser)
    assert "This code is not right" in browser.post(CODE_PAGE, {"code": old[1]}).content.decode()


def test_a_superuser_turns_it_off_for_a_teammate_who_lost_their_phone(admin_client, kim, mailoutbox):
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    users = reverse("admin:auth_user_changelist")
    listing = admin_client.get(users).content.decode()
    assert "Two-step sign-in" in listing
    lee = get_user_model().objects.create_user("lee", "lee@lamps.example", PASSWORD, is_staff=True)
    boss = get_user_model().objects.get(username="boss")  # the admin_client's
    selection = {"action": "turn_off_two_step", "_selected_action": [kim.pk, lee.pk, boss.pk]}
    with CaptureQueriesContext(connection) as queries:
        asked = admin_client.post(users, selection).content.decode()  # first, what it will do
    assert "<title>Turn off two-step sign-in? | Parley</title>" in asked
    assert 'id="parley-two-step-off"><li><strong>kim</strong> (Kim)</li></ul>' in asked
    assert "Without two-step sign-in already: boss, lee." in asked
    assert "Not yours" not in asked  # boss has none on
    assert 'value="Yes, turn it off"' in asked and two_step.two_step_on(kim)
    for pk in (kim.pk, lee.pk, boss.pk):  # the same selection goes back with the answer
        assert f'name="_selected_action" value="{pk}"' in asked
    more = [get_user_model().objects.create_user(f"t{n}", is_staff=True).pk for n in range(5)]
    with CaptureQueriesContext(connection) as more_queries:
        admin_client.post(users, {**selection, "_selected_action": [*selection["_selected_action"], *more]})
    assert len(more_queries) == len(queries)
    answer = admin_client.post(users, {**selection, "confirm": "yes"}, follow=True)
    assert "Two-step sign-in is off for kim" in answer.content.decode()
    assert not two_step.two_step_on(kim)
    assert "changed by boss (a superuser)" in mailoutbox[-1].body
    nothing = admin_client.post(users, {**selection, "_selected_action": [lee.pk]}).content.decode()
    assert "Nothing to turn off here." in nothing and "Without two-step sign-in already: lee." in nothing
    assert "Yes, turn it off" not in nothing


def test_only_who_may_change_users_turns_it_off_for_others(client, kim):
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    lee = get_user_model().objects.create_user("lee", "lee@lamps.example", PASSWORD, is_staff=True)
    client.force_login(lee)
    users = reverse("admin:auth_user_changelist")
    selection = {"action": "turn_off_two_step", "_selected_action": [kim.pk], "confirm": "yes"}
    assert client.post(users, selection).status_code == 403
    assert two_step.two_step_on(kim)


def test_an_invitation_link_never_signs_in_past_a_code(kim):
    from django.conf import settings

    from contacts import teammate_access

    kim.set_unusable_password()
    kim.save()
    TOTPDevice.objects.create(user=kim, name="Authenticator app", confirmed=True)
    browser = Client()
    page = browser.get(teammate_access.invitation_link(kim).removeprefix(settings.PUBLIC_URL), follow=True)
    form_url = page.redirect_chain[-1][0]
    answer = browser.post(
        form_url, {"new_password1": "quiet-harbour-lantern-77", "new_password2": "quiet-harbour-lantern-77"}
    )
    assert answer["Location"] == LOGIN
    assert _signed_in(browser) is None


def test_a_superuser_turns_it_off_from_the_teammates_page_too(admin_client, kim, mailoutbox):
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    page_url = reverse("admin:auth_user_change", args=[kim.pk])
    page = admin_client.get(page_url).content.decode()
    assert "On since" in page and 'name="_two_step_off"' in page
    fields = {"username": "kim", "first_name": "Kim", "email": "kim@lamps.example", "role": "", "is_active": "on"}
    fields |= {"is_staff": "on", "_two_step_off": "1", "last_name": "Lost-Phone"}
    asked = admin_client.post(page_url, fields).content.decode()  # the page is saved, then it asks
    assert 'id="parley-two-step-off"><li><strong>kim</strong> (Kim Lost-Phone)</li></ul>' in asked
    assert f'<form method="post" action="{reverse("admin:auth_user_changelist")}">' in asked
    assert two_step.two_step_on(kim)
    kim.refresh_from_db()
    assert kim.last_name == "Lost-Phone"
    confirmed = {"action": "turn_off_two_step", "_selected_action": [kim.pk], "confirm": "yes"}
    answer = admin_client.post(reverse("admin:auth_user_changelist"), confirmed, follow=True)
    assert "Two-step sign-in is off for kim" in answer.content.decode()
    assert not two_step.two_step_on(kim)
    assert "Off: their password alone signs them in" in admin_client.get(page_url).content.decode()
    own_page = admin_client.get(
        reverse("admin:auth_user_change", args=[get_user_model().objects.get(username="boss").pk])
    )
    assert (
        f'<a href="{reverse("two_step_setup")}">Your Two-step sign-in page</a> turns it on or off.'
        in own_page.content.decode()
    )


def test_only_a_superuser_turns_it_off_for_others_and_nobody_for_themselves_without_the_password(client, kim):
    from django.contrib.auth.models import Permission

    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    lead = get_user_model().objects.create_user("lead", "lead@lamps.example", PASSWORD, is_staff=True)
    lead.user_permissions.add(*Permission.objects.filter(codename__in=["add_user", "change_user", "delete_user"]))
    client.force_login(lead)
    users = reverse("admin:auth_user_changelist")
    assert 'value="turn_off_two_step"' not in client.get(users).content.decode()  # not offered to them
    client.post(users, {"action": "turn_off_two_step", "_selected_action": [kim.pk], "confirm": "yes"})
    assert two_step.two_step_on(kim)
    boss = get_user_model().objects.create_superuser("boss2", "boss2@lamps.example", PASSWORD)
    boss_browser = Client()
    boss_browser.force_login(boss)
    _turn_on(boss_browser, boss)
    own = {"action": "turn_off_two_step", "_selected_action": [boss.pk]}
    asked = boss_browser.post(users, own).content.decode()
    assert "Nothing to turn off here." in asked and "Not yours: you turn your own off" in asked
    assert "Yes, turn it off" not in asked
    answer = boss_browser.post(users, {**own, "confirm": "yes"}, follow=True)  # posted anyway
    assert "Yours is still on: you turn your own off on your Two-step sign-in page" in answer.content.decode()
    assert two_step.two_step_on(boss)


def test_a_recovery_code_used_is_told_and_new_codes_take_an_app_code(kim, mailoutbox):
    setup = Client()
    setup.force_login(kim)
    codes = _turn_on(setup, kim)
    browser = Client()
    _password_step(browser)
    assert browser.post(CODE_PAGE, {"code": codes[0]})["Location"] == "/admin/"
    assert mailoutbox[-1].subject == "A recovery code was used to sign in to Parley" and "9 left" in mailoutbox[-1].body
    refused = browser.post(SETUP, {"do": "codes", "code": codes[1]}).content.decode()
    assert "This code is not right" in refused and two_step.recovery_codes_left(kim) == 9
    _pause_over(kim)
    browser.post(SETUP, {"do": "codes", "code": app_code(kim, later=1)})
    assert mailoutbox[-1].subject == "New Parley recovery codes were made"


def test_a_new_password_ends_a_sign_in_waiting_for_its_code(kim):
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    browser = Client()
    _password_step(browser)
    kim.set_password("quiet-harbour-lantern-77")
    kim.save()
    assert browser.post(CODE_PAGE, {"code": app_code(kim, later=1)})["Location"] == LOGIN
    assert _signed_in(browser) is None


def test_the_sign_in_page_points_to_a_sign_in_waiting_for_its_code(kim):
    setup = Client()
    setup.force_login(kim)
    _turn_on(setup, kim)
    browser = Client()
    assert "parley-two-step-waiting" not in browser.get(LOGIN).content.decode()
    _password_step(browser)
    page = browser.get(LOGIN).content.decode()  # another admin link followed before the code
    assert f'<a href="{CODE_PAGE}">type the code from your app</a> to finish signing in' in page
    # "Sign in as someone else" on the code page: a plain sign-in page, and the one waiting is dropped.
    code_page = browser.get(CODE_PAGE).content.decode()
    assert '<button type="submit" class="parley-link-button">Sign in as someone else</button>' in code_page
    # A link from another site (a GET, or a POST without the page's CSRF token) drops nothing.
    assert "parley-two-step-waiting" in browser.get(f"{LOGIN}?again=1").content.decode()
    guarded = Client(enforce_csrf_checks=True)
    guarded.cookies = browser.cookies
    assert guarded.post(CODE_PAGE, {"do": "again"}).status_code == 403
    assert browser.get(CODE_PAGE).status_code == 200
    again = browser.post(CODE_PAGE, {"do": "again"})
    assert again["Location"] == LOGIN
    page = browser.get(LOGIN).content.decode()
    assert "parley-two-step-waiting" not in page and "<title>Log in | Parley</title>" in page
    assert browser.get(CODE_PAGE)["Location"] == LOGIN


def test_an_invitation_chosen_password_marks_the_browser_as_the_new_teammates(kim):
    from django.conf import settings

    from contacts import teammate_access

    kim.set_unusable_password()
    kim.save()
    browser = Client()
    page = browser.get(teammate_access.invitation_link(kim).removeprefix(settings.PUBLIC_URL), follow=True)
    password = "quiet-harbour-lantern-77"
    answer = browser.post(page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    assert answer["Location"] == "/admin/" and DEVICE_COOKIE in answer.cookies
