"""Who may do what: every API operation and every admin action, for each kind of teammate, from ONE table.

API operations are called with each role's token (and without one); admin actions are looked up
and posted with each role's session. A refused call answers 403 in Intercom's envelope and changes
nothing. The guards at the end fail when a route or an admin action has no entry here.
"""

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import URLPattern, reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from api import urls as api_urls
from api.models import ApiToken, WebhookDelivery, WebhookSubscription
from api.permissions import OPERATION_PERMISSIONS
from api.services import api_token_create
from companies import services as company_services
from companies.models import Company, CompanyContact, CompanyTag
from contacts import services as contact_services
from contacts.models import Contact, ContactNote, ContactTag, DataAttribute, PrivacyAuditEntry, Tag
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP, ensure_teammate_groups
from conversations import services as conversation_services
from conversations.attachment_links import attachment_link_query
from conversations.models import Attachment, Conversation, ConversationPart, Message, MessageDelivery, Team
from segments.models import Segment
from tests.contacts.factories import ContactFactory, DataAttributeFactory, LeadFactory, TagFactory, UserContactFactory
from tracking import services as tracking_services
from tracking.models import Event, EventSummary

pytestmark = pytest.mark.django_db

ANONYMOUS, SUPERUSER, AGENT, VIEWER = "anonymous", "superuser", "agent", "viewer"
TEAMMATES = (SUPERUSER, AGENT, VIEWER)
EVERYONE = frozenset({ANONYMOUS, *TEAMMATES})
READERS = frozenset(TEAMMATES)  # every teammate, the viewer included
WORKERS = frozenset({SUPERUSER, AGENT})  # the daily support work
SUPERUSER_ONLY = frozenset({SUPERUSER})
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Op:
    """One API call: the route's name, the method, a path and body with {placeholders}, who may make it."""

    url_name: str
    method: str
    path: str
    allowed: frozenset[str]
    body: dict[str, Any] | None = None
    ok_status: int = 200
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}{' ' + self.label if self.label else ''}"


PAST = 1_700_000_000
FUTURE = int(dt.datetime.now(dt.UTC).timestamp()) + 86_400
OPERATIONS = [
    Op("api-schema", "GET", "/api/schema/", EVERYONE),
    Op("api-docs", "GET", "/api/docs/", EVERYONE),
    Op("api-me", "GET", "/api/me", READERS),
    Op("api-admins", "GET", "/api/admins", READERS),
    Op("api-admin", "GET", "/api/admins/{superuser}", READERS),
    Op("api-admin-away", "PUT", "/api/admins/{me}/away", WORKERS,
       {"away_mode_enabled": True, "away_mode_reassign": False}),
    Op("api-contacts", "GET", "/api/contacts", READERS),
    Op("api-contacts", "POST", "/api/contacts", WORKERS, {"email": "new@example.com"}),
    Op("api-contacts-search", "POST", "/api/contacts/search", READERS,
       {"query": {"field": "email", "operator": "=", "value": "u1@example.com"}}),
    Op("api-contacts-merge", "POST", "/api/contacts/merge", SUPERUSER_ONLY, {"from": "{lead}", "into": "{user}"}),
    Op("api-contact-by-external-id", "GET", "/api/contacts/find_by_external_id/u-1", READERS),
    Op("api-contact", "GET", "/api/contacts/{user}", READERS),
    Op("api-contact", "PUT", "/api/contacts/{user}", WORKERS, {"name": "Renamed"}),
    Op("api-contact", "DELETE", "/api/contacts/{user}", SUPERUSER_ONLY, label="(GDPR erase)"),
    Op("api-contact-archive", "POST", "/api/contacts/{user}/archive", WORKERS),
    Op("api-contact-unarchive", "POST", "/api/contacts/{user}/unarchive", WORKERS),
    Op("api-contact-tags", "GET", "/api/contacts/{user}/tags", READERS),
    Op("api-contact-tags", "POST", "/api/contacts/{user}/tags", WORKERS, {"id": "{other_tag}"}),
    Op("api-contact-tag", "DELETE", "/api/contacts/{user}/tags/{tag}", WORKERS),
    Op("api-contact-notes", "GET", "/api/contacts/{user}/notes", READERS),
    Op("api-contact-notes", "POST", "/api/contacts/{user}/notes", WORKERS, {"body": "Prefers email"}),
    Op("api-note", "GET", "/api/notes/{note}", READERS),
    Op("api-tags", "GET", "/api/tags", READERS),
    Op("api-tags", "POST", "/api/tags", WORKERS, {"name": "fresh"}),
    Op("api-tags", "POST", "/api/tags", WORKERS, {"id": "{tag}", "name": "renamed"}, label="(rename)"),
    Op("api-tags", "POST", "/api/tags", WORKERS, {"name": "vip", "users": [{"id": "{lead}"}]}, label="(tag many)"),
    Op("api-tags", "POST", "/api/tags", WORKERS, {"name": "vip", "users": [{"id": "{user}", "untag": True}]},
       label="(untag many)"),
    Op("api-tag", "GET", "/api/tags/{tag}", READERS),
    Op("api-tag", "DELETE", "/api/tags/{tag}", SUPERUSER_ONLY),
    Op("api-data-attributes", "GET", "/api/data_attributes", READERS),
    Op("api-data-attributes", "POST", "/api/data_attributes", SUPERUSER_ONLY,
       {"name": "plan", "model": "contact", "data_type": "string"}),
    Op("api-data-attribute", "PUT", "/api/data_attributes/{attribute}", SUPERUSER_ONLY, {"label": "Plan"}),
    Op("api-data-attribute", "DELETE", "/api/data_attributes/{attribute}", SUPERUSER_ONLY),
    Op("api-events", "GET", "/api/events?type=user&user_id=u-1", READERS),
    Op("api-events", "GET", "/api/events?type=user&user_id=u-1&summary=true", READERS, label="(summaries)"),
    Op("api-events", "POST", "/api/events", SUPERUSER_ONLY, {"event_name": "ordered", "user_id": "u-1"},
       ok_status=202),
    Op("api-event-summaries", "POST", "/api/events/summaries", SUPERUSER_ONLY,
       {"user_id": "u-1", "event_summaries": {"event_name": "imported", "count": 2, "first": PAST, "last": PAST}}),
    Op("api-conversations", "GET", "/api/conversations", READERS),
    Op("api-attachment-file", "GET", "/api/attachments/{attachment}", READERS),
    Op("api-conversations", "POST", "/api/conversations", WORKERS, {"from": {"type": "user", "id": "{user}"},
                                                                    "body": "Help"}),
    Op("api-conversations-search", "POST", "/api/conversations/search", READERS,
       {"query": {"field": "state", "operator": "=", "value": "open"}}),
    Op("api-conversation", "GET", "/api/conversations/{conversation}", READERS),
    Op("api-conversation", "PUT", "/api/conversations/{conversation}", WORKERS, {"title": "Refund", "read": True}),
    Op("api-conversation", "DELETE", "/api/conversations/{conversation}", SUPERUSER_ONLY),
    Op("api-conversation-reply", "POST", "/api/conversations/{conversation}/reply", WORKERS,
       {"message_type": "comment", "type": "admin", "body": "Hello"}),
    Op("api-conversation-reply", "POST", "/api/conversations/{conversation}/reply", WORKERS,
       {"message_type": "note", "type": "admin", "body": "Internal", "admin_id": "{me}"}, label="(note)"),
    Op("api-conversation-reply", "POST", "/api/conversations/{conversation}/reply", WORKERS,
       {"message_type": "comment", "type": "user", "intercom_user_id": "{user}", "body": "Thanks"},
       label="(as the contact)"),
    Op("api-conversation-parts", "POST", "/api/conversations/{conversation}/parts", WORKERS,
       {"message_type": "close", "admin_id": "{me}"}),
    Op("api-conversation-parts", "POST", "/api/conversations/{conversation}/parts", WORKERS,
       {"message_type": "snoozed", "snoozed_until": FUTURE}, label="(snooze)"),
    Op("api-conversation-parts", "POST", "/api/conversations/{conversation}/parts", WORKERS,
       {"message_type": "assignment", "type": "admin", "assignee_id": "{superuser}"}, label="(assign)"),
    Op("api-conversation-tags", "POST", "/api/conversations/{conversation}/tags", WORKERS, {"id": "{other_tag}"}),
    Op("api-conversation-tag", "DELETE", "/api/conversations/{conversation}/tags/{tag}", WORKERS),
    Op("api-visitors", "GET", "/api/visitors?user_id={visitor_user_id}", READERS),
    Op("api-visitors", "PUT", "/api/visitors", WORKERS, {"id": "{visitor}", "name": "Curious"}),
    Op("api-visitors-convert", "POST", "/api/visitors/convert", WORKERS,
       {"type": "lead", "visitor": {"id": "{visitor}"}, "user": {"email": "v@example.com"}}),
    Op("api-messages", "POST", "/api/messages", WORKERS,
       {"message_type": "inapp", "body": "Hi", "to": {"type": "user", "id": "{user}"}}),
    Op("api-messages", "POST", "/api/messages", WORKERS,
       {"message_type": "email", "subject": "News", "body": "Hi", "from": {"type": "admin", "id": "{me}"},
        "to": {"type": "user", "email": "u1@example.com"}}, label="(email)"),
    Op("api-segments", "GET", "/api/segments?include_count=true", READERS),
    Op("api-segment", "GET", "/api/segments/{segment}", READERS),
    Op("api-contact-segments", "GET", "/api/contacts/{user}/segments", READERS),
    Op("api-company-segments", "GET", "/api/companies/{company}/segments", READERS),
    Op("api-teams", "GET", "/api/teams", READERS),
    Op("api-team", "GET", "/api/teams/{team}", READERS),
    Op("api-companies", "GET", "/api/companies", READERS),
    Op("api-companies", "GET", "/api/companies?company_id=acme", READERS, label="(retrieve)"),
    Op("api-companies", "POST", "/api/companies", WORKERS, {"company_id": "new-co", "name": "New"}),
    Op("api-companies-list", "POST", "/api/companies/list", READERS),
    Op("api-companies-scroll", "GET", "/api/companies/scroll", WORKERS),  # every company: the export right
    Op("api-company", "GET", "/api/companies/{company}", READERS),
    Op("api-company", "PUT", "/api/companies/{company}", WORKERS, {"name": "Renamed"}),
    Op("api-company", "DELETE", "/api/companies/{company}", SUPERUSER_ONLY),
    Op("api-company-contacts", "GET", "/api/companies/{company}/contacts", READERS),
    Op("api-contact-companies", "GET", "/api/contacts/{user}/companies", READERS),
    Op("api-contact-companies", "POST", "/api/contacts/{lead}/companies", WORKERS, {"id": "{company}"}),
    Op("api-contact-company", "DELETE", "/api/contacts/{user}/companies/{company}", WORKERS),
    Op("api-tags", "POST", "/api/tags", WORKERS, {"name": "b2b", "companies": [{"company_id": "acme"}]},
       label="(tag companies)"),
    Op("api-tags", "POST", "/api/tags", WORKERS, {"name": "b2b", "companies": [{"id": "{company}", "untag": True}]},
       label="(untag companies)"),
]  # fmt: skip

# Every admin action ("app_label.model:action") and the roles that get it, in the list and on POST.
ADMIN_ACTIONS = {
    "auth.group:delete_selected": SUPERUSER_ONLY,
    "conversations.teammateprofile:delete_selected": NOBODY,  # profiles have no bulk actions at all
    "conversations.attachment:delete_selected": NOBODY,  # files come and go with their messages
    "privacy.datasubjectrequest:delete_selected": NOBODY,  # the record of a request is kept
    "tracking.rejectedattribute:delete_selected": SUPERUSER_ONLY,
    "auth.user:delete_selected": SUPERUSER_ONLY,
    "auth.user:send_invitation": SUPERUSER_ONLY,
    "auth.user:turn_off_two_step": SUPERUSER_ONLY,
    "django_celery_beat.periodictask:delete_selected": SUPERUSER_ONLY,
    "django_celery_beat.periodictask:enable_tasks": SUPERUSER_ONLY,
    "django_celery_beat.periodictask:disable_tasks": SUPERUSER_ONLY,
    "django_celery_beat.periodictask:toggle_tasks": SUPERUSER_ONLY,
    "django_celery_beat.periodictask:run_tasks": SUPERUSER_ONLY,
    "django_celery_beat.clockedschedule:delete_selected": SUPERUSER_ONLY,
    "django_celery_beat.crontabschedule:delete_selected": SUPERUSER_ONLY,
    "django_celery_beat.solarschedule:delete_selected": SUPERUSER_ONLY,
    "django_celery_beat.intervalschedule:delete_selected": SUPERUSER_ONLY,
    "contacts.contact:delete_selected": NOBODY,  # replaced by the GDPR erase below
    "contacts.contact:tag_selected": WORKERS,
    "contacts.contact:untag_selected": WORKERS,
    "contacts.contact:export_csv": WORKERS,  # a viewer reads contacts one at a time, and exports none in bulk
    "contacts.contact:export_gdpr": WORKERS,
    "contacts.contact:erase_selected": SUPERUSER_ONLY,
    "contacts.contact:send_message_to_contacts": WORKERS,
    "contacts.tag:delete_selected": SUPERUSER_ONLY,
    "contacts.dataattribute:delete_selected": SUPERUSER_ONLY,
    "contacts.privacyauditentry:delete_selected": NOBODY,
    "tracking.website:delete_selected": SUPERUSER_ONLY,
    "tracking.websession:delete_selected": NOBODY,
    "tracking.pageview:delete_selected": NOBODY,
    "tracking.event:delete_selected": NOBODY,
    "tracking.eventsummary:delete_selected": NOBODY,
    "conversations.conversation:delete_selected": SUPERUSER_ONLY,
    # Routing, office hours and SLA targets are site-wide settings; breaches are the beat task's record.
    "conversations.assignmentrule:delete_selected": SUPERUSER_ONLY,
    "conversations.officeschedule:delete_selected": SUPERUSER_ONLY,
    "conversations.slapolicy:delete_selected": SUPERUSER_ONLY,
    "conversations.slabreach:delete_selected": NOBODY,
    "conversations.conversation:assign_selected": WORKERS,
    "conversations.conversation:assign_to_me": WORKERS,
    "conversations.conversation:snooze_selected": WORKERS,
    "conversations.conversation:close_selected": WORKERS,
    "conversations.conversation:reopen_selected": WORKERS,
    "conversations.conversation:tag_selected": WORKERS,
    "conversations.conversation:run_macro_selected": WORKERS,  # a viewer cannot run macros
    "conversations.savedreply:delete_selected": SUPERUSER_ONLY,
    "conversations.team:delete_selected": SUPERUSER_ONLY,
    "conversations.message:delete_selected": SUPERUSER_ONLY,
    "retention.retentionpolicy:delete_selected": NOBODY,
    "retention.retentionrun:delete_selected": NOBODY,
    "segments.segment:delete_selected": SUPERUSER_ONLY,
    "api.apitoken:delete_selected": SUPERUSER_ONLY,
    "api.apitoken:revoke": WORKERS,  # an agent revokes its own tokens (it sees no others)
    "api.webhooksubscription:delete_selected": SUPERUSER_ONLY,
    "api.webhookdelivery:delete_selected": SUPERUSER_ONLY,
    "api.webhookdelivery:retry": SUPERUSER_ONLY,
    "companies.company:delete_selected": SUPERUSER_ONLY,
    "companies.company:tag_selected": WORKERS,
    "companies.company:untag_selected": WORKERS,
    "companies.company:export_csv": WORKERS,  # as the contacts' export: a viewer takes no list out in bulk
}


# --- the world every call runs in ---------------------------------------------------------------


@dataclass
class World:
    users: dict[str, Any]
    tokens: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)

    def api(self, role: str) -> APIClient:
        client = APIClient()
        if role != ANONYMOUS:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[role]}")
        return client

    def fill(self, value: Any, role: str) -> Any:
        ids = {**self.ids, "me": str(self.users[role].pk) if role != ANONYMOUS else "0"}
        if isinstance(value, str):
            return value.format(**ids)
        if isinstance(value, dict):
            return {key: self.fill(item, role) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill(item, role) for item in value]
        return value


def teammate_create(role: str) -> Any:
    user_model = get_user_model()
    if role == SUPERUSER:
        return user_model.objects.create_superuser("boss", "boss@parley.test", None)
    # No password (sessions come from force_login): hashing one per test would dominate the run.
    user = user_model.objects.create_user(role, f"{role}@parley.test", None, is_staff=True)
    user.groups.add(Group.objects.get(name=AGENT_GROUP if role == AGENT else VIEWER_GROUP))
    return user


@pytest.fixture
def world(db) -> World:
    ensure_teammate_groups()  # the groups exactly as `migrate` leaves them
    users = {role: teammate_create(role) for role in TEAMMATES}
    tokens = {role: api_token_create(user=users[role])[1] for role in TEAMMATES}
    user = UserContactFactory(external_id="u-1", email="u1@example.com")
    lead = LeadFactory()
    visitor = ContactFactory()
    tag, other_tag = TagFactory(), TagFactory()
    contact_services.contact_tag(contact=user, tag=tag)
    note = contact_services.contact_note_create(contact=user, author=users[SUPERUSER], body="Met at the fair")
    attribute = DataAttributeFactory()
    conversation = conversation_services.conversation_start_by_contact(
        contact=user, body="Hello?", files=[SimpleUploadedFile("guide.pdf", b"%PDF-1.4\n%%EOF\n")]
    )
    attachment = Attachment.objects.get(part__conversation=conversation)
    conversation_services.conversation_tag(conversation=conversation, tag=tag, teammate=None)
    tracking_services.event_track(contact=user, name="signed-in", metadata={}, created_at=None, now=timezone.now())
    team = Team.objects.create(name="Support")
    segment = Segment.objects.create(name="Users", query={"field": "role", "operator": "=", "value": "user"})
    team.members.add(users[AGENT])
    company, _ = company_services.company_create_or_update(company_id="acme", name="Acme")
    company_services.company_attach(company=company, contact=user)
    company_services.company_tag(company=company, tag=tag)
    ids = {
        "superuser": users[SUPERUSER].pk, "agent": users[AGENT].pk, "viewer": users[VIEWER].pk,
        "user": user.pk, "lead": lead.pk, "visitor": visitor.pk, "tag": tag.pk, "other_tag": other_tag.pk,
        "note": note.pk, "attribute": attribute.pk, "conversation": conversation.pk, "company": company.pk,
        "team": team.pk, "segment": segment.pk, "visitor_user_id": visitor.anonymous_id,
        "attachment": attachment.public_id + attachment_link_query(attachment=attachment),
    }  # fmt: skip
    return World(users=users, tokens=tokens, ids={name: str(pk) for name, pk in ids.items()})


SNAPSHOT_MODELS = [
    Contact, Tag, ContactTag, ContactNote, DataAttribute, PrivacyAuditEntry, Conversation, ConversationPart, Event,
    EventSummary, WebhookSubscription, WebhookDelivery, PeriodicTask, Group, Company, CompanyContact, CompanyTag,
    Message, MessageDelivery, Team, Segment,
]  # fmt: skip


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables an API call or an admin action could change."""
    rows = {model.__name__: list(model.objects.order_by("pk").values()) for model in SNAPSHOT_MODELS}
    # A token records its use even when the call is refused: everything else about it must hold.
    rows["ApiToken"] = list(ApiToken.objects.order_by("pk").values("pk", "user_id", "name", "revoked_at"))
    return rows


def assert_forbidden(response: Any) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["type"] == "error.list"
    assert body["errors"][0]["code"] == "forbidden"
    assert body["errors"][0]["message"]


def call(world: World, op: Op, role: str) -> Any:
    client = world.api(role)
    path = world.fill(op.path, role)
    body = world.fill(op.body, role) if op.body is not None else None
    if body is None:
        return client.generic(op.method, path)
    return client.generic(op.method, path, json.dumps(body), content_type="application/json")


# --- the API matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [ANONYMOUS, *TEAMMATES])
@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.id)
def test_api_operation_is_allowed_exactly_for_its_roles(world, op, role):
    before = snapshot()
    response = call(world, op, role)
    if role in op.allowed:
        assert response.status_code == op.ok_status, response.content
    elif role == ANONYMOUS:
        assert response.status_code == 401, response.content
        assert response.json()["errors"][0]["code"] == "unauthorized"
        assert snapshot() == before
    else:
        assert_forbidden(response)
        assert snapshot() == before, "a refused call changed something"


@pytest.mark.parametrize("role", TEAMMATES)
def test_a_teammates_session_is_no_api_credential(world, client, role):
    client.force_login(world.users[role])
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthorized"


# --- the admin actions matrix ---------------------------------------------------------------------


def _registered_actions() -> dict[str, tuple[type, admin.ModelAdmin, str]]:
    return {
        f"{model._meta.label_lower}:{name}": (model, model_admin, name)
        for model, model_admin in admin.site._registry.items()
        for _func, name, _description in model_admin._get_base_actions()
    }


def _offered(model: type, model_admin: admin.ModelAdmin, name: str, user: Any) -> bool:
    """What the changelist offers this teammate: the page itself, then the action in its list."""
    request = RequestFactory().get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    request.user = user
    return model_admin.has_view_or_change_permission(request) and name in model_admin.get_actions(request)


@pytest.fixture
def admin_world(world) -> World:
    subscription = WebhookSubscription.objects.create(
        url="https://hooks.example.com/parley", topics=["contact.created"]
    )
    WebhookDelivery.objects.create(
        subscription=subscription, topic="contact.created", notification_id="n-1", payload={},
        status=WebhookDelivery.Status.FAILED, attempts=6, last_attempt_at=timezone.now() - dt.timedelta(hours=1),
    )  # fmt: skip
    return world


@pytest.mark.parametrize("role", TEAMMATES)
@pytest.mark.parametrize("key", sorted(ADMIN_ACTIONS))
def test_admin_action_is_offered_exactly_to_its_roles(admin_world, client, key, role):
    model, model_admin, name = _registered_actions()[key]
    user = admin_world.users[role]
    assert _offered(model, model_admin, name, user) == (role in ADMIN_ACTIONS[key])
    if role in ADMIN_ACTIONS[key]:
        return
    # Posting the action anyway (all rows selected) changes nothing.
    client.force_login(user)
    before = snapshot()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    pks = [str(pk) for pk in model.objects.values_list("pk", flat=True)[:10]]
    response = client.post(
        url, {"action": name, "select_across": "1", "index": "0", "_selected_action": pks, "confirmed": "yes"}
    )
    assert response.status_code in (200, 302, 403)
    assert snapshot() == before, f"{key} changed something for the {role}"


# --- the guards: a new route or admin action needs its entry --------------------------------------


def _api_operations() -> set[tuple[str, str]]:
    operations = set()
    for pattern in api_urls.urlpatterns:
        if not isinstance(pattern, URLPattern) or pattern.name is None:
            continue  # the catch-all 404
        view_class = pattern.callback.view_class
        for method in view_class.http_method_names:
            if method not in ("options", "head") and hasattr(view_class, method):
                operations.add((pattern.name, method.upper()))
    return operations


def test_every_api_operation_has_an_entry_in_the_matrix():
    in_table = {(op.url_name, op.method) for op in OPERATIONS}
    routes = _api_operations()
    assert routes - in_table == set(), "add these operations to OPERATIONS"
    assert in_table - routes == set(), "these OPERATIONS match no route"


def test_every_token_operation_has_a_permission_entry():
    public = {"api-schema", "api-docs"}
    declared = {(name, method) for name, methods in OPERATION_PERMISSIONS.items() for method in methods}
    assert {op for op in _api_operations() if op[0] not in public} == declared


def test_every_admin_action_has_an_entry_in_the_matrix():
    registered = set(_registered_actions())
    assert registered - set(ADMIN_ACTIONS) == set(), "add these admin actions to ADMIN_ACTIONS"
    assert set(ADMIN_ACTIONS) - registered == set(), "these ADMIN_ACTIONS are no longer registered"


# --- the attacker's angle: another teammate's ids escalate nothing --------------------------------

IMPERSONATIONS = [
    ("/api/conversations/{conversation}/reply", {"message_type": "comment", "type": "admin", "body": "x"}),
    ("/api/conversations/{conversation}/reply", {"message_type": "note", "type": "admin", "body": "x"}),
    ("/api/conversations/{conversation}/parts", {"message_type": "close"}),
    ("/api/conversations/{conversation}/parts", {"message_type": "assignment", "assignee_id": "{agent}"}),
    ("/api/conversations/{conversation}/tags", {"id": "{other_tag}"}),  # the timeline names who tagged it
    ("/api/contacts/{user}/notes", {"body": "x"}),
]


@pytest.mark.parametrize(
    ("path", "body"),
    IMPERSONATIONS,
    ids=[f"{p} {b.get('message_type') or b.get('body') or b.get('id')}" for p, b in IMPERSONATIONS],
)
def test_an_agent_cannot_write_as_the_superuser(world, path, body):
    before = snapshot()
    response = world.api(AGENT).post(
        world.fill(path, AGENT), world.fill({**body, "admin_id": "{superuser}"}, AGENT), format="json"
    )
    assert_forbidden(response)
    assert response.json()["errors"][0]["field"] == "admin_id"
    assert snapshot() == before


@pytest.mark.parametrize(("path", "body"), IMPERSONATIONS[:1] + IMPERSONATIONS[-1:])
def test_a_superusers_token_may_write_for_another_admin(world, path, body):
    response = world.api(SUPERUSER).post(
        world.fill(path, SUPERUSER), world.fill({**body, "admin_id": "{agent}"}, SUPERUSER), format="json"
    )
    assert response.status_code == 200, response.content


def test_a_viewer_cannot_write_by_naming_an_agent(world):
    before = snapshot()
    response = world.api(VIEWER).post(
        world.fill("/api/conversations/{conversation}/parts", VIEWER),
        world.fill({"message_type": "close", "admin_id": "{agent}"}, VIEWER),
        format="json",
    )
    assert_forbidden(response)
    assert snapshot() == before


def test_an_agent_renaming_a_tag_without_change_tag_is_refused_before_anything_is_written(world):
    agent = world.users[AGENT]
    agent.groups.clear()
    agent.user_permissions.add(*Permission.objects.filter(codename__in=["add_tag", "view_tag"]))
    before = snapshot()
    response = world.api(AGENT).post("/api/tags", world.fill({"id": "{tag}", "name": "mine now"}, AGENT), format="json")
    assert_forbidden(response)
    assert "contacts.change_tag" in response.json()["errors"][0]["message"]
    assert snapshot() == before


@pytest.mark.parametrize("change", [{"is_active": False}, {"is_staff": False}], ids=["deactivated", "not staff"])
def test_the_token_of_a_former_teammate_is_refused(world, change):
    agent = world.users[AGENT]
    for name, value in change.items():
        setattr(agent, name, value)
    agent.save()
    response = world.api(AGENT).get("/api/contacts")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthorized"


def test_a_teammate_who_only_views_the_beat_schedule_cannot_switch_or_run_its_tasks(world, client):
    viewer = world.users[VIEWER]
    viewer.user_permissions.add(Permission.objects.get(codename="view_periodictask"))
    viewer = get_user_model().objects.get(pk=viewer.pk)  # a fresh permission cache
    model_admin = admin.site._registry[PeriodicTask]
    offered = {name for name in ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks")
               if _offered(PeriodicTask, model_admin, name, viewer)}  # fmt: skip
    assert offered == set()
    client.force_login(viewer)
    before = snapshot()
    url = reverse("admin:django_celery_beat_periodictask_changelist")
    pks = [str(pk) for pk in PeriodicTask.objects.values_list("pk", flat=True)]
    assert client.get(url).status_code == 200
    client.post(url, {"action": "disable_tasks", "_selected_action": pks, "index": "0"})
    assert snapshot() == before
    assert PeriodicTask.objects.filter(enabled=True).exists()


def test_a_superuser_still_switches_beat_tasks_through_the_wrapped_actions(world, client):
    client.force_login(world.users[SUPERUSER])
    url = reverse("admin:django_celery_beat_periodictask_changelist")
    pks = [str(pk) for pk in PeriodicTask.objects.values_list("pk", flat=True)]
    assert client.post(url, {"action": "disable_tasks", "_selected_action": pks, "index": "0"}).status_code == 302
    assert not PeriodicTask.objects.filter(enabled=True).exists()


def test_docs_name_every_permission_the_api_asks_for():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    asked = {
        permission for methods in OPERATION_PERMISSIONS.values() for perms in methods.values() for permission in perms
    }
    assert {p for p in asked if p.split(".", 1)[1] not in docs} == set()
