"""Teammates' way into the admin (contacts/teammate_access.py, contacts/admin/sign_in.py): failed sign-ins slowed
down, forgotten passwords, invitations."""

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from config.production import EXIT_CONFIG
from contacts import teammate_access
from contacts.permissions import AGENT_GROUP

# Reset emails are the worker's: here it runs them at once (tests/e2e has the journey with a real worker).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
PASSWORD = "lamp-shop-evening-2026"
NEW_PASSWORD = "quiet-harbour-lantern-77"
PUBLIC_URL = "https://parley.lamps.example"
ROOT = Path(__file__).resolve().parent.parent.parent
LOGIN = "/admin/login/"
LINK = re.compile(re.escape(PUBLIC_URL) + r"(/admin/(?:welcome|reset)/[^/\s]+/[^/\s]+/)")


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_URL = PUBLIC_URL


@pytest.fixture
def kim(db):
    return get_user_model().objects.create_user(
        "kim", "kim@lamps.example", PASSWORD, is_staff=True, first_name="Kim"
    )  # fmt: skip


def _sign_in(client: Client, username: str, password: str, *, network: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=network)


def _signed_in(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def _link(mail) -> str:
    """The path of the one link in an email (which names the public address)."""
    links = LINK.findall(mail.body)
    assert len(links) == 1, mail.body
    return links[0]


def _choose_password(link: str, password: str = NEW_PASSWORD) -> tuple[Client, object]:
    """Follow an email's link in a browser of its own and choose `password`: (that browser, the last answer)."""
    browser = Client()
    page = browser.get(link, follow=True)
    assert page.status_code == 200
    form_url = page.redirect_chain[-1][0]  # Django moves the token out of the address before the form
    return browser, browser.post(form_url, {"new_password1": password, "new_password2": password})


# --- sign-in ---------------------------------------------------------------------------------------------


def test_failed_sign_ins_lock_the_name_then_even_its_right_password_is_refused_from_anywhere(client, kim, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        page = _sign_in(client, "kim", "wrong-guess")
        assert "Please enter the correct username and password" in page.content.decode()
    for network in ("203.0.113.7", "198.51.100.20"):  # the name is locked, whichever network asks
        page = _sign_in(Client(), "kim", PASSWORD, network=network)
        assert page.status_code == 200
        assert re.search(
            r"Too many failed sign-ins for this account\. Try again in \d+ minutes?, or reset your password\.",
            page.content.decode(),
        )
    assert _signed_in(client) is None
    # Another teammate on the same network signs in as usual.
    get_user_model().objects.create_user("lee", "lee@lamps.example", PASSWORD, is_staff=True)
    lee = Client()
    assert _sign_in(lee, "lee", PASSWORD).status_code == 302
    assert _signed_in(lee) is not None


def test_a_browser_that_signed_in_as_the_teammate_before_gets_past_a_lock_on_the_name(kim, settings, mailoutbox):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    kims_browser = Client()
    assert _sign_in(kims_browser, "kim", PASSWORD).status_code == 302  # Monday: Kim signs in, as every day
    signed_out = kims_browser.post("/admin/logout/").content.decode()
    assert "You are signed out of Parley in this browser." in signed_out
    assert f'<a href="{reverse("admin:login")}">Sign in again</a>' in signed_out
    guesser = Client()
    for _ in range(5):
        _sign_in(guesser, "kim", "wrong-guess", network="198.51.100.66")
    assert "Too many failed sign-ins" in _sign_in(guesser, "kim", PASSWORD, network="198.51.100.66").content.decode()
    assert _sign_in(kims_browser, "kim", PASSWORD).status_code == 302  # Tuesday: Kim is not locked out
    assert _signed_in(kims_browser) == str(kim.pk)
    # Kim's own browser has a limit of its own; the cookie is no way past it, nor a way in as someone else.
    for _ in range(3):
        _sign_in(kims_browser, "kim", "typo")
    assert "Too many failed sign-ins" in _sign_in(kims_browser, "kim", PASSWORD).content.decode()
    get_user_model().objects.create_user("lee", "lee@lamps.example", PASSWORD, is_staff=True)
    assert _sign_in(kims_browser, "lee", "wrong").status_code == 200
    # A new password, chosen in that browser through the emailed link, lifts the browser's lock too.
    kims_browser.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    [mail] = mailoutbox
    page = kims_browser.get(_link(mail), follow=True)
    kims_browser.post(page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert _sign_in(kims_browser, "kim", NEW_PASSWORD).status_code == 302


def _device_id(browser: Client) -> str:
    from django.core import signing

    value = browser.cookies[teammate_access.DEVICE_COOKIE].value
    return signing.loads(value, salt="parley.teammate_access.device")["device"]


def test_a_browsers_pass_ends_with_the_password_it_was_earned_with_and_its_teammate(kim, settings, mailoutbox):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    old_browser = Client()
    assert _sign_in(old_browser, "kim", PASSWORD).status_code == 302
    first = _device_id(old_browser)
    assert _sign_in(old_browser, "kim", PASSWORD).status_code == 302
    assert _device_id(old_browser) == first  # signing in again mints no second pass
    kim.set_password(NEW_PASSWORD)  # someone who knew the old password kept that browser's cookie
    kim.save()
    guesser = Client()
    for _ in range(4):
        _sign_in(guesser, "kim", "wrong-guess", network="198.51.100.66")
    locked = _sign_in(old_browser, "kim", NEW_PASSWORD, network="198.51.100.66").content.decode()
    assert "Too many failed sign-ins" in locked  # the old password's cookie is no pass
    for attempt in range(3):  # nor a reset budget of its own
        Client().post(
            reverse("admin_password_reset"), {"email": "kim@lamps.example"}, REMOTE_ADDR=f"198.51.100.{attempt}"
        )
    refused = old_browser.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    assert "Too many reset requests" in refused.content.decode()
    # A teammate who left: the login name and address handed to someone else carry no pass from the old browser.
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 10
    lee_browser = Client()
    lee = get_user_model().objects.create_user("lee", "lee@lamps.example", PASSWORD, is_staff=True)
    assert _sign_in(lee_browser, "lee", PASSWORD).status_code == 302
    lee.username, lee.email, lee.is_active = "lee-left", "lee-left@lamps.example", False
    lee.save()
    get_user_model().objects.create_user("lee", "lee@lamps.example", PASSWORD, is_staff=True)
    for attempt in range(3):
        Client().post(
            reverse("admin_password_reset"), {"email": "lee@lamps.example"}, REMOTE_ADDR=f"203.0.113.{attempt}"
        )
    taken = lee_browser.post(reverse("admin_password_reset"), {"email": "lee@lamps.example"}).content.decode()
    assert "Too many reset requests" in taken


def test_every_browser_of_a_teammate_shares_one_ceiling_of_reset_emails(kim, mailoutbox):
    browsers = [Client() for _ in range(5)]
    for browser in browsers:
        assert _sign_in(browser, "kim", PASSWORD).status_code == 302
    answers = [
        browser.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"}).status_code
        for browser in browsers
        for _ in range(3)
    ]
    assert answers.count(302) == teammate_access.RESETS_PER_KNOWN_ADDRESS == 10
    assert len(mailoutbox) == 10


def test_a_browser_that_signed_in_as_a_lookalike_name_gets_no_pass_at_the_real_one(kim, settings):
    # Anyone who may rename users can make "KIM" (Django signs in by the exact name) and sign in as it.
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    get_user_model().objects.create_user("KIM", "other@lamps.example", PASSWORD, is_staff=True)
    browser = Client()
    assert _sign_in(browser, "KIM", PASSWORD).status_code == 302
    browser.post("/admin/logout/")
    for _ in range(4):
        _sign_in(browser, "kim", "wrong-guess")
    assert "Too many failed sign-ins for this account" in _sign_in(Client(), "kim", PASSWORD).content.decode()


def test_an_ipv6_network_is_its_64_not_each_address(client, kim, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_NETWORK = 4
    for host in range(1, 5):
        _sign_in(Client(), f"name{host}", "123456", network=f"2001:db8:1:2::{host}")
    refused = _sign_in(Client(), "kim", PASSWORD, network="2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert "Too many failed sign-ins" in refused.content.decode()
    assert _sign_in(Client(), "kim", PASSWORD, network="2001:db8:1:3::1").status_code == 302


def test_after_a_sign_in_a_next_address_of_another_site_lands_in_the_admin(client, kim):
    for hostile in ("//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        answer = Client().post(f"{LOGIN}?next={hostile}", {"username": "kim", "password": PASSWORD})
        assert answer["Location"] == reverse("admin:index")


def test_a_new_password_from_the_emailed_link_lifts_the_lock_on_the_name(client, kim, mailoutbox, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        _sign_in(client, "kim", "wrong-guess", network="198.51.100.66")  # a guesser, elsewhere
    assert "Too many failed sign-ins" in _sign_in(Client(), "kim", PASSWORD).content.decode()
    client.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    _choose_password(_link(mailoutbox[0]))
    kim_again = Client()
    assert _sign_in(kim_again, "kim", NEW_PASSWORD).status_code == 302
    assert _signed_in(kim_again) == str(kim.pk)


def test_failures_from_one_network_lock_it_for_every_name_but_not_other_networks(client, kim, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_NETWORK = 4
    for name in ("admin", "root", "boss", "kim"):  # a guesser trying names
        _sign_in(client, name, "123456")
    refused = _sign_in(Client(), "kim", PASSWORD)
    assert "Too many failed sign-ins from your network. Try again in" in refused.content.decode()
    elsewhere = Client()
    assert _sign_in(elsewhere, "kim", PASSWORD, network="198.51.100.20").status_code == 302
    assert _signed_in(elsewhere) == str(kim.pk)


def test_sign_ins_that_succeed_are_not_counted(kim, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 2
    for _ in range(5):
        teammate = Client()
        assert _sign_in(teammate, "kim", PASSWORD).status_code == 302
        assert _signed_in(teammate) == str(kim.pk)


def test_a_non_staff_or_deactivated_account_fails_like_a_wrong_password_and_counts(client, kim, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 2
    kim.is_active = False
    kim.save()
    for _ in range(2):
        assert "Please enter the correct username" in _sign_in(client, "kim", PASSWORD).content.decode()
    kim.is_active = True
    kim.save()
    assert "Too many failed sign-ins" in _sign_in(client, "kim", PASSWORD).content.decode()


def test_a_session_holder_gets_no_more_guesses_at_the_password_than_the_sign_in_page(client, kim, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    client.force_login(kim)  # a session, without the password (a stolen cookie)
    change = reverse("admin:password_change")
    for guess in ("123456", "password", "kim2026"):
        page = client.post(change, {"old_password": guess, "new_password1": "x", "new_password2": "x"})
        assert "Your old password was entered incorrectly" in page.content.decode()
    page = client.post(change, {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert "Too many failed sign-ins for this account" in page.content.decode()
    kim.refresh_from_db()
    assert kim.check_password(PASSWORD)


def test_a_teammate_changes_their_password_knowing_the_current_one(client, kim, mailoutbox):
    change = reverse("admin:password_change")
    assert Client().get(change)["Location"].startswith(reverse("admin:login"))  # signed in only
    client.force_login(kim)
    page = client.get(change).content.decode()
    assert "<h1>Change password</h1>" in page and 'id="user-tools"' in page  # the admin's own page
    # "Changed" to the same password: refused (it would sign every other browser out for nothing).
    same = client.post(change, {"old_password": PASSWORD, "new_password1": PASSWORD, "new_password2": PASSWORD})
    assert same.status_code == 200 and "That is your current password: choose a new one." in same.content.decode()
    assert mailoutbox == []
    answer = client.post(
        change, {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert answer["Location"] == reverse("admin:password_change_done")
    kim.refresh_from_db()
    assert kim.check_password(NEW_PASSWORD)
    assert [m.subject for m in mailoutbox] == ["Your Parley password was changed"]


@pytest.mark.parametrize(
    "username",
    ["kim%00", "%3Cscript%3Ealert(1)%3C/script%3E", "k" * 5000, "%D9%A1%D9%A2", "1e400", "kim%ED%A0%80", "%FF%FE"],
)
def test_hostile_names_get_the_form_back_not_an_error(client, kim, username):
    # Sent as a browser's form sends it, bytes percent-encoded: a lone surrogate's, or bytes that are not UTF-8.
    body = f"username={username}&password=x"
    page = client.post(LOGIN, body, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.content.decode()
    assert _signed_in(client) is None


# --- forgotten password ----------------------------------------------------------------------------------


def test_the_sign_in_page_links_to_a_reset_that_mails_a_one_time_link_to_the_public_address(client, kim, mailoutbox):
    login = client.get(LOGIN).content.decode()
    assert f'href="{reverse("admin_password_reset")}"' in login
    page = client.get(reverse("admin_password_reset"))
    assert page.status_code == 200
    assert "<title>Password reset | Parley</title>" in page.content.decode()
    done = client.post(reverse("admin_password_reset"), {"email": "KIM@lamps.example"}, HTTP_HOST="127.0.0.1")
    assert done["Location"] == reverse("password_reset_done")
    sent = " ".join(client.get(done["Location"]).content.decode().split())
    assert "an email with a link to choose a new password is on its way. The link works once, for 1 hour." in sent
    assert f'<a href="{reverse("admin:login")}">Back to sign in</a>' in sent
    [mail] = mailoutbox
    assert mail.to == ["kim@lamps.example"]
    assert mail.subject == "Choose a new Parley password"
    assert "Your login name is: kim" in mail.body
    link = _link(mail)  # the public address, not the Host the request came with
    form = Client().get(link, follow=True).content.decode()
    assert "Choose a new password for <strong>kim</strong>" in form
    assert "Your password must contain at least 15 characters." in form  # the rules, before the first try
    _, answer = _choose_password(link)
    assert answer["Location"] == reverse("password_reset_complete")
    complete = Client().get(answer["Location"]).content.decode()
    assert f'<a href="{reverse("admin:login")}">Sign in</a>' in complete and "Your new password is set." in complete
    kim.refresh_from_db()
    assert kim.check_password(NEW_PASSWORD)
    notice = mailoutbox[-1]  # the change is told, in case it was not theirs
    assert (notice.to, notice.subject) == (["kim@lamps.example"], "Your Parley password was changed")
    assert _sign_in(Client(), "kim", NEW_PASSWORD).status_code == 302
    again = Client().get(link, follow=True).content.decode()  # once only
    assert "This link has expired or was used already" in again


def test_a_reset_request_is_mailed_by_the_worker_so_the_page_does_the_same_whether_the_address_is_known(
    client, kim, mailoutbox
):
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False  # queued, as in production
    statements = []
    for email, network in (("kim@lamps.example", "203.0.113.1"), ("nobody@lamps.example", "203.0.113.2")):
        with CaptureQueriesContext(connection) as queries:
            answer = client.post(reverse("admin_password_reset"), {"email": email}, REMOTE_ADDR=network)
        assert answer["Location"] == reverse("password_reset_done")
        statements.append([query["sql"] for query in queries])
    assert statements[0] == statements[1]  # no lookup of the address: its answer tells nothing, nor its timing
    assert mailoutbox == []  # no mail server in the request either
    assert teammate_access.password_reset_send("KIM@lamps.example") == 1  # what the queued task runs
    assert mailoutbox[0].to == ["kim@lamps.example"]


def test_with_the_broker_unreachable_the_page_mails_the_link_itself(client, kim, mailoutbox, caplog):
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False
    # The app's connections to a broker where nothing listens, for this request (then the usual ones again): the
    # namespaced name (read first, as for CELERY_TASK_ALWAYS_EAGER) and the write URL a Redis broker sets too.
    names = ("CELERY_BROKER_URL", "broker_url", "broker_write_url")
    previous = {name: celery_app.conf.get(name) for name in names}, celery_app._pool, celery_app.amqp._producer_pool
    celery_app.conf.update(dict.fromkeys(names, "redis://127.0.0.1:9/0"))
    celery_app._pool = celery_app.amqp._producer_pool = None
    try:
        assert celery_app.connection_for_write().port == 9
        answer = client.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    finally:
        celery_app.conf.update(previous[0])
        celery_app._pool, celery_app.amqp._producer_pool = previous[1:]
    assert answer["Location"] == reverse("password_reset_done")
    assert [mail.to for mail in mailoutbox] == [["kim@lamps.example"]]
    assert "Could not queue a password reset email; sending it from the request." in caplog.text


def test_a_reset_goes_only_to_active_teammates_and_the_page_says_the_same_either_way(client, kim, mailoutbox):
    User = get_user_model()
    User.objects.create_user("shopper", "shopper@lamps.example", PASSWORD)  # not staff
    User.objects.create_user("gone", "gone@lamps.example", PASSWORD, is_staff=True, is_active=False)
    for email in ("shopper@lamps.example", "gone@lamps.example", "nobody@lamps.example"):
        answer = client.post(reverse("admin_password_reset"), {"email": email}, REMOTE_ADDR=f"203.0.113.{len(email)}")
        assert answer["Location"] == reverse("password_reset_done")
    assert mailoutbox == []


def test_a_link_stops_working_when_the_teammate_is_deactivated(client, kim, mailoutbox):
    client.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    link = _link(mailoutbox[0])
    kim.is_active = False
    kim.save()
    page = Client().get(link, follow=True).content.decode()
    assert "This link has expired or was used already" in page


def test_a_reset_link_does_not_open_the_welcome_page_nor_an_invitation_the_reset_page(client, kim, mailoutbox):
    client.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    reset = _link(mailoutbox[0])
    as_welcome = Client().get(reset.replace("/admin/reset/", "/admin/welcome/"), follow=True).content.decode()
    assert "This invitation link has expired or was used already" in as_welcome
    invitation = teammate_access.invitation_link(kim).removeprefix(PUBLIC_URL)
    as_reset = Client().get(invitation.replace("/admin/welcome/", "/admin/reset/"), follow=True).content.decode()
    assert "This link has expired or was used already" in as_reset


def test_a_reset_link_works_for_an_hour_and_an_invitation_for_three_days(client, kim, mailoutbox, settings):
    client.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    [mail] = mailoutbox
    assert "(the link works once, for 1 hour)" in mail.body
    reset, invitation = _link(mail), teammate_access.invitation_link(kim).removeprefix(PUBLIC_URL)

    def opens(link: str, later: dt.timedelta) -> bool:
        with time_machine.travel(now + later, tick=False):
            page = Client().get(link, follow=True).content.decode()
        assert "has expired or was used already" in page or "Choose" in page
        return "has expired or was used already" not in page

    now = timezone.now()
    assert opens(reset, dt.timedelta(minutes=59))
    assert not opens(reset, dt.timedelta(hours=1, seconds=2))
    assert opens(invitation, dt.timedelta(hours=1, seconds=2))  # made at the same moment
    assert opens(invitation, dt.timedelta(days=3, seconds=-60))
    assert not opens(invitation, dt.timedelta(days=3, seconds=2))
    settings.PARLEY_PASSWORD_RESET_LINK_SECONDS = 5400
    assert teammate_access.link_valid_for(teammate_access.reset_tokens) == "90 minutes"
    assert opens(reset, dt.timedelta(minutes=89)) and not opens(reset, dt.timedelta(minutes=90, seconds=2))
    settings.PASSWORD_RESET_TIMEOUT = 36 * 3600
    assert teammate_access.link_valid_for(teammate_access.invitation_tokens) == "36 hours"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"PARLEY_PASSWORD_RESET_LINK_SECONDS": "30"}, "PARLEY_PASSWORD_RESET_LINK_SECONDS must be between 60 and "
         "PASSWORD_RESET_TIMEOUT (259200), not 30."),
        ({"PARLEY_PASSWORD_RESET_LINK_SECONDS": "345600"}, "PARLEY_PASSWORD_RESET_LINK_SECONDS must be between 60 "
         "and PASSWORD_RESET_TIMEOUT (259200), not 345600."),
        ({"PASSWORD_RESET_TIMEOUT": "0"}, "PASSWORD_RESET_TIMEOUT must be 60 seconds or more, not 0."),
        ({"PARLEY_PASSWORD_RESET_LINK_SECONDS": "1e400"}, "PARLEY_PASSWORD_RESET_LINK_SECONDS is set to a value Parley cannot read: invalid literal for int() with "
         "base 10: '1e400'."),
    ],
)  # fmt: skip
def test_a_link_lifetime_out_of_bounds_is_refused_at_start(variables, expected):
    env = {**os.environ, "DEBUG": "true", **variables}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # One line, no traceback, and the status that keeps a service manager from restarting it in a loop.
    assert (result.returncode, result.stderr) == (EXIT_CONFIG, f"Parley refuses to start: {expected}\n")


def test_a_shorter_invitation_lifetime_shortens_the_reset_links_default_too():
    env = {**os.environ, "DEBUG": "true", "PASSWORD_RESET_TIMEOUT": "1800"}
    env.pop("PARLEY_PASSWORD_RESET_LINK_SECONDS", None)
    code = "from django.conf import settings; print(settings.PARLEY_PASSWORD_RESET_LINK_SECONDS)"
    result = subprocess.run(  # noqa: S603 - our own manage.py and code
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert (result.returncode, result.stdout.split()[-1]) == (0, "1800"), result.stderr


def test_without_email_set_up_no_link_goes_to_the_log(client, kim, settings, caplog, capsys):
    # Production without EMAIL_URL: Django's console backend would print the email, link and all, into the log.
    settings.EMAIL_BACKEND = "common.mail.MeteredEmailBackend"
    settings.PARLEY_EMAIL_BACKEND = teammate_access.CONSOLE_MAIL
    answer = client.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    assert answer["Location"] == reverse("password_reset_done")
    boss = get_user_model().objects.create_superuser("boss", "boss@lamps.example", PASSWORD)
    assert teammate_access.teammate_invite(kim, invited_by=boss) is False
    printed = capsys.readouterr().out + caplog.text
    assert "/admin/reset/" not in printed and "/admin/welcome/" not in printed
    assert "email is not set up (EMAIL_URL)" in caplog.text


def test_reset_requests_are_counted_per_address_so_the_form_cannot_flood_an_inbox(client, kim, mailoutbox):
    for attempt in range(5):
        answer = client.post(
            reverse("admin_password_reset"), {"email": "kim@lamps.example"}, REMOTE_ADDR=f"198.51.100.{attempt}"
        )
    assert answer.status_code == 200
    assert "Too many reset requests. Try again in" in answer.content.decode()
    assert len(mailoutbox) == 3


def test_an_addresss_lookalikes_share_its_reset_budget(client, kim, mailoutbox):
    # An older account's address with a variation selector in its domain: mail reaches lamps.example all the same.
    get_user_model().objects.create_user("kim2", "kim@lamps.example\ufe0f", PASSWORD, is_staff=True)
    for attempt, email in enumerate(["kim@lamps.example", "KIM@lamps.example\ufe0f", "kim@lam\u034fps.example"]):
        client.post(reverse("admin_password_reset"), {"email": email}, REMOTE_ADDR=f"198.51.100.{attempt}")
    refused = client.post(
        reverse("admin_password_reset"), {"email": "kim@lamps.example\ufe0f"}, REMOTE_ADDR="198.51.100.9"
    )
    assert "Too many reset requests" in refused.content.decode()
    assert teammate_access.same_mailbox("Kim@LAMPS.example\ufe0f") == "kim@lamps.example"


def test_a_stranger_who_spends_an_addresss_reset_budget_leaves_its_teammates_own_browser_its_own(kim, mailoutbox):
    get_user_model().objects.create_user("lee", "lee@lamps.example", PASSWORD, is_staff=True)
    kims_browser, lees_browser = Client(), Client()
    assert _sign_in(kims_browser, "kim", PASSWORD).status_code == 302
    assert _sign_in(lees_browser, "lee", PASSWORD).status_code == 302
    stranger = Client()
    for attempt in range(4):
        stranger.post(
            reverse("admin_password_reset"), {"email": "kim@lamps.example"}, REMOTE_ADDR=f"198.51.100.{attempt}"
        )
    assert len(mailoutbox) == 3  # the address's budget is spent
    # Lee's browser is not Kim's: it asks as a stranger would.
    refused = lees_browser.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})
    assert "Too many reset requests. Try again in" in refused.content.decode()
    for _ in range(3):
        answer = kims_browser.post(reverse("admin_password_reset"), {"email": "KIM@lamps.example"})
        assert answer["Location"] == reverse("password_reset_done")
    assert len(mailoutbox) == 6
    again = kims_browser.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"})  # its own, spent
    assert "Too many reset requests. Try again in" in again.content.decode()
    assert len(mailoutbox) == 6
    forged = Client()
    forged.cookies[teammate_access.DEVICE_COOKIE] = kims_browser.cookies[teammate_access.DEVICE_COOKIE].value + "x"
    assert (
        "Too many reset requests"
        in forged.post(reverse("admin_password_reset"), {"email": "kim@lamps.example"}).content.decode()
    )


@pytest.mark.parametrize("email", ["kim@lamps.example\x00", "<b>@x.example", "k" * 400 + "@x.example", "1e400"])
def test_hostile_reset_addresses_get_the_form_back(client, kim, mailoutbox, email):
    answer = client.post(reverse("admin_password_reset"), {"email": email})
    assert answer.status_code in (200, 302)
    assert mailoutbox == []


# --- invitations ---------------------------------------------------------------------------------------


def _add_kim(admin_client, **fields):
    """Add Kim with an invitation: the email goes once the add is committed (these tests commit for real)."""
    form = {
        "username": "kim", "first_name": "Kim", "last_name": "Lee", "email": "kim@lamps.example", "role": AGENT_GROUP,
        "usable_password": "false", "password1": "typed-but-ignored", "password2": "", **fields,
    }  # fmt: skip
    return admin_client.post(reverse("admin:auth_user_add"), form, follow=True)


@pytest.mark.django_db(transaction=True)
def test_an_invited_teammate_chooses_their_password_from_the_email_and_is_signed_in(admin_client, mailoutbox):
    page = _add_kim(admin_client)
    assert "Invitation sent to kim@lamps.example: its link works for 3 days." in page.content.decode()
    assert "Never (invited)" in page.content.decode()  # the teammates' list
    kim = get_user_model().objects.get(username="kim")
    assert not kim.has_usable_password()  # the typed text was not made a password
    kims_page = admin_client.get(reverse("admin:auth_user_change", args=[kim.pk])).content.decode()
    assert "Never (invited)" in kims_page
    [mail] = mailoutbox
    assert (mail.to, mail.subject) == (["kim@lamps.example"], "boss invited you to Parley")
    boss_sees = admin_client.get(_link(mail), follow=True).content.decode()  # the inviter opens it by mistake
    assert "You are signed in as boss. This invitation is for\nkim" in boss_sees
    assert "Your login name is: kim" in mail.body
    link = _link(mail)
    assert link.startswith("/admin/welcome/")
    browser, answer = _choose_password(link)
    assert answer["Location"] == reverse("admin:index")
    home = browser.get(reverse("admin:index")).content.decode()
    assert "Your password is set, and you are signed in. Welcome to Parley." in home
    assert _signed_in(browser) == str(kim.pk)
    kim.refresh_from_db()
    assert kim.check_password(NEW_PASSWORD)
    used = Client().get(link, follow=True).content.decode()
    assert "This invitation link has expired or was used already" in used


@pytest.mark.django_db(transaction=True)
def test_an_invitation_checks_the_password_it_is_given(admin_client, mailoutbox):
    _add_kim(admin_client)
    browser = Client()
    page = browser.get(_link(mailoutbox[0]), follow=True)
    form = page.redirect_chain[-1][0]
    assert "Your password must contain at least 15 characters." in page.content.decode()  # said before a try
    short = "harbour-lamp-7"  # 14 characters: a password is the only factor (NIST SP 800-63B-4 asks 15)
    answer = browser.post(form, {"new_password1": short, "new_password2": short})
    assert answer.status_code == 200
    assert "This password is too short. It must contain at least 15 characters." in answer.content.decode()
    assert _signed_in(browser) is None
    answer = browser.post(form, {"new_password1": short + "x", "new_password2": short + "x"})
    assert answer["Location"] == reverse("admin:index")


@pytest.mark.django_db(transaction=True)
def test_a_teammate_can_be_invited_again_until_they_sign_in(admin_client, mailoutbox):
    _add_kim(admin_client)
    kim = get_user_model().objects.get(username="kim")
    changelist = reverse("admin:auth_user_changelist")
    resend = {"action": "send_invitation", "_selected_action": [kim.pk]}
    page = admin_client.post(changelist, resend, follow=True).content.decode()
    assert "Invitation sent to kim@lamps.example" in page
    assert len(mailoutbox) == 2
    _choose_password(_link(mailoutbox[1]))
    page = admin_client.post(changelist, resend, follow=True).content.decode()
    assert "No invitation for kim: they have signed in already" in page
    assert len(mailoutbox) == 2


def _page_fields(user, **changes) -> dict:
    """A teammate page's form as the browser sends it, with `changes`."""
    fields = {"username": user.username, "first_name": user.first_name, "email": user.email, "role": AGENT_GROUP}
    fields |= {"is_active": "on", "is_staff": "on", "date_joined_0": "2026-12-01", "date_joined_1": "10:00:00"}
    return fields | changes


@pytest.mark.django_db(transaction=True)
def test_an_invited_teammates_page_saves_then_sends_a_new_invitation(admin_client, mailoutbox):
    _add_kim(admin_client)
    kim = get_user_model().objects.get(username="kim")
    page_url = reverse("admin:auth_user_change", args=[kim.pk])
    page = admin_client.get(page_url).content.decode()
    assert "Sent; they have not chosen a password yet (each link works for 3 days)." in page
    assert 'name="_invite"' in page
    # The address had a typo: corrected on the page, then "Save and send a new invitation".
    answer = admin_client.post(page_url, _page_fields(kim, email="kim.lee@lamps.example", _invite="1"), follow=True)
    assert answer.redirect_chain[-1][0] == page_url
    assert "Invitation sent to kim.lee@lamps.example: its link works for 3 days." in answer.content.decode()
    kim.refresh_from_db()
    assert kim.email == "kim.lee@lamps.example" and mailoutbox[-1].to == ["kim.lee@lamps.example"]
    notice = mailoutbox[-2]  # the address the account had is told it changed (a takeover would not go unnoticed)
    assert notice.to == ["kim@lamps.example"] and "changed from this one to kim.lee@lamps.example" in notice.body
    _choose_password(_link(mailoutbox[-1]))
    assert "_invite" not in admin_client.get(page_url).content.decode()  # they chose their password
    answer = admin_client.post(page_url, _page_fields(kim, _invite="1"), follow=True).content.decode()
    assert "No invitation for kim: they have signed in already" in answer
    assert len(mailoutbox) == 3


def test_only_teammates_who_may_change_users_send_an_invitation_from_a_page(client, kim, mailoutbox):
    other = get_user_model().objects.create_user("lee", "lee@lamps.example", is_staff=True)
    client.force_login(kim)  # staff, no permission on users
    page_url = reverse("admin:auth_user_change", args=[other.pk])
    assert client.post(page_url, _page_fields(other, _invite="1")).status_code == 403
    assert mailoutbox == []


def test_invitations_to_one_teammate_are_limited_and_quote_names_on_one_line(admin_client, superuser, mailoutbox):
    superuser.first_name = "Evil\r\nBcc: victim@evil.example\r\n\r\nInjected"
    superuser.save()
    kim = get_user_model().objects.create_user("kim", "kim@lamps.example", is_staff=True)
    resend = {"action": "send_invitation", "_selected_action": [kim.pk]}
    for _ in range(teammate_access.INVITATIONS_PER_TEAMMATE + 1):
        page = admin_client.post(reverse("admin:auth_user_changelist"), resend, follow=True).content.decode()
    assert "No invitation for kim: 5 were sent in the last day already" in page
    assert len(mailoutbox) == teammate_access.INVITATIONS_PER_TEAMMATE
    assert "Evil Bcc: victim@evil.example Injected" in mailoutbox[0].body
    assert "\nBcc:" not in mailoutbox[0].body


def test_a_teammate_added_with_a_password_or_without_staff_status_gets_no_invitation(admin_client, mailoutbox):
    User = get_user_model()
    with_password = User.objects.create_user("pat", "pat@lamps.example", PASSWORD, is_staff=True)
    shopper = User.objects.create_user("shopper", "shopper@lamps.example")
    resend = {"action": "send_invitation", "_selected_action": [with_password.pk, shopper.pk]}
    page = admin_client.post(reverse("admin:auth_user_changelist"), resend, follow=True).content.decode()
    assert "No invitation for pat: they have a password already" in page
    assert "No invitation for shopper: they are not a teammate" in page
    assert mailoutbox == []


def test_an_invitation_to_a_teammate_who_is_not_active_says_so(admin_client, kim, mailoutbox):
    kim.is_active = False
    kim.set_unusable_password()
    kim.save()
    resend = {"action": "send_invitation", "_selected_action": [kim.pk]}
    page = admin_client.post(reverse("admin:auth_user_changelist"), resend, follow=True).content.decode()
    assert "No invitation for kim: their account is not active" in page
    assert "Never (not active)" in page
    assert mailoutbox == []


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_that_refuses_the_invitation_is_said_and_the_teammate_kept(admin_client, settings):
    # A real SMTP backend, pointed at a port where nothing listens: the connection is refused.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    page = _add_kim(admin_client)
    assert page.status_code == 200
    assert "No invitation for kim: it could not be sent" in page.content.decode()
    assert get_user_model().objects.filter(username="kim").exists()


def test_only_teammates_who_may_change_users_can_invite(client, kim, mailoutbox):
    client.force_login(kim)  # staff, no permission on users
    other = get_user_model().objects.create_user("lee", "lee@lamps.example", is_staff=True)
    resend = {"action": "send_invitation", "_selected_action": [other.pk]}
    assert client.post(reverse("admin:auth_user_changelist"), resend).status_code == 403
    assert mailoutbox == []


def test_ipv4_clients_seen_through_a_dual_stack_socket_are_networks_of_their_own(kim, settings):
    settings.PARLEY_SIGN_IN_FAILURES_PER_NETWORK = 3
    for host in range(1, 5):
        _sign_in(Client(), f"name{host}", "123456", network=f"::ffff:203.0.113.{host}")
    assert _sign_in(Client(), "kim", PASSWORD, network="::ffff:198.51.100.9").status_code == 302
