"""The admin's lists at 1280 px (a common laptop width): every column and the action bar within the
viewport, nothing cut off to the right (issue 12's walk found the inbox, contacts and websites clipped)."""

import datetime as dt
import itertools

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from contacts import services as contact_services
from contacts.models import DataAttribute
from conversations import services
from conversations.models import Conversation, ConversationRating
from tests.contacts.factories import TagFactory, UserContactFactory
from tracking.models import WebSession
from tracking.services import website_create, website_update

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

VIEWPORT_WIDTH = 1280
# A teammate's (the users list), as long as real ones get.
LONG_NAME, LONG_EMAIL = "Konstantinopoulou-Smythe", "alexandra.konstantinopoulou-smythe@acme-lamps-and-lighting.example"


def _overflow(page) -> dict:
    """What sticks out to the right of the viewport: the page's own width and each header cell's right edge."""
    return page.evaluate(
        """(width) => {
            const beyond = (el, edge) => el.getClientRects().length && el.getBoundingClientRect().right > edge + 0.5;
            const results = document.querySelector('#changelist .results');
            const form = document.querySelector('#changelist-form');
            const right = (el) => Math.min(width, el ? el.getBoundingClientRect().right : width);
            const text = (el) => (el.textContent || el.className).trim().replace(/\\s+/g, ' ').slice(0, 40);
            return {
                scroll: document.documentElement.scrollWidth,
                // A column hidden in the results' scroll box is as cut off as one past the window.
                columns: Array.from(document.querySelectorAll('#result_list thead th'))
                    .filter(el => beyond(el, right(results))).map(text),
                actions: Array.from(document.querySelectorAll('#changelist-form .actions > *'))
                    .filter(el => beyond(el, right(form))).map(text),
            };
        }""",
        VIEWPORT_WIDTH,
    )


def _seed(teammate):
    from tests.e2e.conftest import agent_teammate

    alexandra = agent_teammate("alexandra", "Alexandra")
    alexandra.last_name, alexandra.email = LONG_NAME, LONG_EMAIL
    alexandra.save()
    # A data attribute named in one long word, as an import makes them (a walk: the list's other columns went off).
    DataAttribute.objects.create(name="seats_purchased_" * 10, label="Seats")
    website = website_create(
        name="Acme lamps and lighting of the northern hemisphere",
        allowed_origins=["https://www.acme-lamps-and-lighting.example", "https://shop.example"],
    )
    website_update(website=website, conversation_ratings_enabled=True)
    services.teammate_profile_update(teammate=teammate, display_name="Maximilian from Customer Success")
    tag = TagFactory(name="enterprise-customers")
    for i in range(3):
        contact = UserContactFactory(
            name=f"Alexandra Konstantinopoulou-Smythe {i}",
            email=f"alexandra.konstantinopoulou{i}@example-company.com",
            city="Saint-Rémy-de-Provence",
            country_name="France",
        )
        contact_services.contact_tag(contact=contact, tag=tag)
        WebSession.objects.create(
            contact=contact,
            website=website,
            started_at=timezone.now(),
            last_activity_at=timezone.now(),
            page_views_count=3,
        )
        conversation = services.conversation_start_by_contact(
            contact=contact, website=website, body="My order of the large brass floor lamp has not arrived " * 3
        )
        _widest_row(conversation, teammate=teammate)
    # One long word (a pasted link, a name that is an email): it breaks inside the word, not the table (a walk found
    # one message pushing every row's state behind the sidebar).
    unbroken = UserContactFactory(name="alexandra.konstantinopoulou-smythe@example-company.com")
    services.conversation_start_by_contact(
        contact=unbroken, website=website, body="https://www.acme-lamps-and-lighting.example/orders/" + "7" * 150
    )


def _widest_row(conversation, *, teammate) -> None:
    """What makes a row wide (issue 15's walk): a priority flag, an SLA months overdue ("overdue 113 d"), an
    assignee with a long display name, the contact's rating under the state."""
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Looking into it.")
    services.conversation_close(conversation=conversation, teammate=teammate)
    request = ConversationRating.objects.get(conversation=conversation)
    services.conversation_rating_give(request=request, rating=4)
    services.conversation_reopen(conversation=conversation, teammate=teammate)
    services.conversation_set_priority(conversation=conversation, priority=Conversation.Priority.PRIORITY)
    services.conversation_assign(conversation=conversation, teammate=teammate, assignee=teammate)
    overdue = timezone.now() - dt.timedelta(hours=2712)
    Conversation.objects.filter(pk=conversation.pk).update(sla_due_at=overdue, sla_response_due_at=overdue)


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("inbox", reverse("admin:conversations_conversation_changelist")),
        ("contacts", reverse("admin:contacts_contact_changelist")),
        ("websites", reverse("admin:tracking_website_changelist")),
        ("users", reverse("admin:auth_user_changelist")),
        ("data attributes", reverse("admin:contacts_dataattribute_changelist")),
    ],
)
def test_the_admin_lists_fit_a_1280_px_window(agent_admin, superuser, artifacts, name, path):
    _seed(superuser)
    page = agent_admin.page
    page.set_viewport_size({"width": VIEWPORT_WIDTH, "height": 900})
    agent_admin.open(path)
    expect(page.locator("#result_list")).to_be_visible()
    page.screenshot(path=str(artifacts / f"layout-1280-{name}.png"), full_page=True)
    shown = _overflow(page)
    assert shown["columns"] == [] and shown["actions"] == [] and shown["scroll"] <= VIEWPORT_WIDTH, shown
    if name == "inbox":  # the widest row is there, as the walk found it
        row = page.locator("#result_list tbody tr", has=page.locator(".parley-priority")).first
        expect(row.locator(".parley-priority")).to_have_attribute("aria-label", "Priority")
        expect(row.locator("td.field-sla_column")).to_have_text("overdue 113 d")
        expect(row.locator("td.field-assignee_column")).to_have_text("Maximilian from Customer Success")
        expect(row.locator(".parley-stars")).to_have_text("★★★★☆")
    assert agent_admin.problems == []


def test_the_compose_form_is_styled_like_the_admin(agent_admin, artifacts):
    page = agent_admin.page
    agent_admin.open(reverse("admin:conversations_message_add"))
    # The admin's aligned rows: each label in the label column, the body as wide as the admin's text areas.
    label = page.locator(".field-body label").bounding_box()
    body = page.locator("#id_body").bounding_box()
    page.screenshot(path=str(artifacts / "outbound-compose.png"), full_page=True)
    assert body["x"] >= label["x"] + 150 and body["width"] >= 500, (label, body)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".errornote")).to_have_text("Please correct the errors below.")
    expect(page.locator(".errorlist")).to_have_count(3)  # subject, body and audience: all at once
    page.screenshot(path=str(artifacts / "outbound-compose-errors.png"), full_page=True)
    assert agent_admin.problems == []


# Per line of the cell's text on screen, what it holds (a text node's line boxes, one per line it takes).
LINES = """(cell) => {
  const lines = new Map();
  for (const node of cell.childNodes) {
    if (node.nodeType !== Node.TEXT_NODE) continue;
    for (let i = 0; i < node.textContent.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const top = Math.round(range.getBoundingClientRect().top);
      lines.set(top, (lines.get(top) || '') + node.textContent[i]);
    }
  }
  return [...lines.entries()].sort((a, b) => a[0] - b[0]).map((entry) => entry[1]);
}"""


def test_a_long_teammate_email_wraps_at_its_parts_in_the_users_list(agent_admin, superuser, artifacts):
    """A walk found the users list breaking an email mid-word ("…@acme-lamps-and-light" / "ing.example")."""
    _seed(superuser)
    page = agent_admin.page
    page.set_viewport_size({"width": VIEWPORT_WIDTH, "height": 900})
    agent_admin.open(reverse("admin:auth_user_changelist"))
    cell = page.locator("#result_list tr", has_text="alexandra.konstantinopoulou").locator("td.field-email_address")
    expect(cell).to_have_text(LONG_EMAIL)
    page.screenshot(path=str(artifacts / "layout-users-long-email.png"), full_page=True)
    lines = cell.evaluate(LINES)
    assert len(lines) > 1, lines  # it wraps: the check below means something
    # Each line ends where the address may break: after its @ or a hyphen, or before a dot (its <wbr>).
    breaks = itertools.pairwise(lines)
    assert all(line.endswith(("@", "-")) or following.startswith(".") for line, following in breaks), lines
    assert "".join(lines) == LONG_EMAIL
    name = page.locator("#result_list tr", has_text="alexandra.konstantinopoulou").locator("td.field-full_name")
    expect(name).to_have_text(f"Alexandra {LONG_NAME}")
    name_lines = name.evaluate(LINES)
    assert all(line.endswith(("-", " ")) for line in name_lines[:-1]), name_lines
    assert agent_admin.problems == []


# The contrast ratio (WCAG) of an element's text on its own background.
CONTRAST = """(selector) => {
  const element = document.querySelector(selector);
  const style = getComputedStyle(element), text = getComputedStyle(element.querySelector('.body'));
  const luminance = (color) => {
    const [r, g, b] = color.match(/[\\d.]+/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [luminance(style.backgroundColor), luminance(text.color)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.mark.parametrize(
    ("system", "chosen"), [("light", "dark"), ("dark", "light"), ("dark", "auto"), ("light", "auto")]
)
def test_a_conversations_bubbles_read_in_the_theme_the_teammate_chose(
    agent_admin, superuser, artifacts, system, chosen
):
    """A re-check found a teammate's replies blank to the eye after the admin's toggle chose dark on a light system:
    their light bubble stayed under the dark theme's light text (the colours followed the system, not the toggle)."""
    contact = UserContactFactory(name="Ada Lovelace")
    conversation = services.conversation_start_by_contact(contact=contact, body="Where is my lamp?")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=superuser, body="On its way today.")
    services.conversation_add_note(conversation=conversation, teammate=superuser, body="Checked with the warehouse.")
    page = agent_admin.page
    page.emulate_media(color_scheme=system)
    page.evaluate("(theme) => localStorage.setItem('theme', theme)", chosen)  # what the admin's toggle stores
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(page.locator(".parley-part.from-teammate")).to_contain_text("On its way today.")
    page.screenshot(path=str(artifacts / f"thread-theme-{system}-system-{chosen}.png"), full_page=True)
    for bubble in (".parley-part.from-teammate", ".parley-part.note", ".parley-part.from-contact"):
        assert page.evaluate(CONTRAST, bubble) >= 4.5, (bubble, system, chosen)
    assert agent_admin.problems == []
