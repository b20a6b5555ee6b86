"""Conversations: create from a contact, get, list, search, reply, manage, tag, delete."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import NotFound, ParameterInvalid, ParameterNotFound
from api.permissions import acting_teammate_check
from api.serializers.attachments import (
    attachment_files_body_max_bytes,
    attachment_files_decode,
    attachment_urls_refuse,
)
from api.serializers.base import SearchInput
from api.serializers.conversations import (
    DISPLAY_AS_PLAINTEXT,
    ConversationCreateInput,
    ConversationDeletedOutput,
    ConversationListOutput,
    ConversationMessageOutput,
    ConversationOutput,
    ConversationUpdateInput,
    ManageInput,
    ReplyInput,
    conversation_json,
    conversation_list_json,
    conversation_message_json,
)
from api.serializers.tags import TagAttachInput, TagDetachInput, TagOutput
from api.views.base import IntercomView
from api.views.contacts import DEFINE_ATTRIBUTES_PERMISSION, PER_PAGE_PARAMETERS
from common.parsing import bool_or_none
from contacts.search import FieldSpec, QueryCompiler
from conversations import services
from conversations.models import Conversation
from conversations.services.attachments import FilesField, attachment_limits

CONVERSATION_FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("integer", "pk"),
    "state": FieldSpec("string", "state"),
    "open": FieldSpec("open", "state"),
    "read": FieldSpec("read", "teammate_unread_count"),
    "priority": FieldSpec("string", "priority"),
    "admin_assignee_id": FieldSpec("integer", "assignee_id"),
    "team_assignee_id": FieldSpec("integer", "team_id"),
    "contact_ids": FieldSpec("integer", "contact_id"),
    "source.author.id": FieldSpec("integer", "contact_id"),
    "created_at": FieldSpec("date", "created_at"),
    "updated_at": FieldSpec("date", "updated_at"),
    "waiting_since": FieldSpec("date", "waiting_since"),
    "snoozed_until": FieldSpec("date", "snoozed_until"),
    "tag_ids": FieldSpec("tag", "tags", Conversation),
}


# A refused file is named by its index: `attachment_files[2]`.
ATTACHMENT_FILES = FilesField("attachment_files", indexed=True)


# Indexed columns only (conversations.models.Conversation.Meta.indexes).
CONVERSATION_SORT_FIELDS: dict[str, tuple[str, str]] = {
    "id": ("pk", "integer"),
    "created_at": ("created_at", "date"),
    "updated_at": ("updated_at", "date"),
    "waiting_since": ("waiting_since", "date"),
}


def _conversation_q(query: Any) -> Any:
    compiler = QueryCompiler(CONVERSATION_FIELDS)
    # `open` and `read` are booleans over other columns: rewrite them before compiling.
    return compiler.compile(_rewrite(query))


# Fields compared as text whose values are a fixed set: anything else is refused rather than matching nothing (with
# `!=`, a typo such as "opne" would match every conversation).
CONVERSATION_CHOICES = {"state": Conversation.State.values, "priority": Conversation.Priority.values}


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict) and node.get("operator") in ("AND", "OR") and isinstance(node.get("value"), list):
        return {**node, "value": [_rewrite(child) for child in node["value"]]}
    if isinstance(node, dict) and not isinstance(node.get("field", ""), str):
        raise ParameterInvalid("query", "A filter's field is a string.")  # a list or an object names no field
    if isinstance(node, dict) and node.get("field") in CONVERSATION_CHOICES:
        field, value = node["field"], node.get("value")
        choices = CONVERSATION_CHOICES[field]
        if any(item is not None and item not in choices for item in (value if isinstance(value, list) else [value])):
            raise ParameterInvalid(field, f"{field} must be one of: {', '.join(choices)}.")
        return node
    if isinstance(node, dict) and node.get("field") in ("open", "read"):
        field = node["field"]
        if node.get("operator") not in ("=", "!="):
            raise ParameterInvalid(field, f"{field} is compared with = or !=.")
        # As every boolean of the search: true or false, or their text; "banana" is not false.
        value = bool_or_none(node.get("value"))
        if value is None:
            raise ParameterInvalid(field, f"{field} must be compared with true or false.")
        positive = value == (node["operator"] == "=")
        if field == "open":
            return {"field": "state", "operator": "!=" if positive else "=", "value": Conversation.State.CLOSED}
        return {"field": "teammate_unread_count", "operator": "=" if positive else ">", "value": 0}
    return node


CONVERSATION_FIELDS["teammate_unread_count"] = FieldSpec("integer", "teammate_unread_count")


def conversation_get(conversation_id: Any) -> Conversation:
    return selectors.conversation_get(conversation_id=conversation_id)


def _reloaded(conversation: Conversation, request: Request | None = None) -> Response:
    display_as = _display_as(request) if request is not None else None
    return Response(conversation_json(conversation_get(conversation.pk), display_as=display_as))


def _display_as(request: Request) -> str | None:
    """Intercom's `display_as` query parameter: `plaintext`, or bodies as HTML when absent."""
    value = request.query_params.get("display_as")
    if value in (None, ""):
        return None
    if value != DISPLAY_AS_PLAINTEXT:
        raise ParameterInvalid("display_as", f"display_as must be {DISPLAY_AS_PLAINTEXT} (or absent for HTML).")
    return value


DISPLAY_AS_PARAMETER = OpenApiParameter(
    "display_as", str, enum=["plaintext"], description="plaintext: bodies as plain text; absent: HTML paragraphs"
)


def _acting_admin(request: Request, admin_id: Any) -> Any:
    if not admin_id:
        return request.user
    return acting_teammate_check(request, selectors.teammate_get(admin_id=admin_id, field="admin_id"), field="admin_id")


class ConversationsView(IntercomView):
    @extend_schema(operation_id="ListConversations", parameters=PER_PAGE_PARAMETERS, responses=ConversationListOutput)
    def get(self, request: Request) -> Response:
        """Conversations newest first (without their parts), with cursor pagination."""
        per_page, cursor = self.list_params(request)
        return Response(conversation_list_json(selectors.conversations_page(per_page=per_page, cursor=cursor)))

    @extend_schema(
        operation_id="CreateConversation", request=ConversationCreateInput, responses=ConversationMessageOutput
    )
    def post(self, request: Request) -> Response:
        """A contact starts a conversation (a visitor becomes a lead); answers with the message."""
        values = self.parse(ConversationCreateInput, self.body(request))
        contact = selectors.contact_get(contact_id=values["from"]["id"], field="from.id")
        conversation = services.conversation_start_by_contact(contact=contact, body=values["body"])
        part = selectors.conversation_first_part(conversation=conversation)
        return Response(conversation_message_json(conversation=conversation, part=part, body=values["body"]))


class ConversationView(IntercomView):
    @extend_schema(operation_id="RetrieveConversation", parameters=[DISPLAY_AS_PARAMETER], responses=ConversationOutput)
    def get(self, request: Request, conversation_id: str) -> Response:
        display_as = _display_as(request)
        return Response(conversation_json(conversation_get(conversation_id), display_as=display_as))

    @extend_schema(
        operation_id="UpdateConversation",
        parameters=[DISPLAY_AS_PARAMETER],
        request=ConversationUpdateInput,
        responses=ConversationOutput,
    )
    def put(self, request: Request, conversation_id: str) -> Response:
        """Set read, title and custom_attributes (typed by the data attributes with model=conversation)."""
        conversation = conversation_get(conversation_id)
        _display_as(request)  # a bad value is refused before anything is written
        values = self.parse(ConversationUpdateInput, self.body(request))
        services.conversation_update(
            conversation=conversation,
            title=values.get("title"),
            custom_attributes=values.get("custom_attributes"),
            read=values.get("read"),
            define_attributes=request.user.has_perm(DEFINE_ATTRIBUTES_PERMISSION),
        )
        return _reloaded(conversation, request)

    @extend_schema(operation_id="DeleteConversation", responses={200: ConversationDeletedOutput})
    def delete(self, request: Request, conversation_id: str) -> Response:
        """Delete the conversation with its parts."""
        conversation = conversation_get(conversation_id)
        services.conversation_delete(conversation=conversation)
        return Response({"id": str(conversation.pk), "object": "conversation", "deleted": True})


class ConversationSearchView(IntercomView):
    @extend_schema(operation_id="SearchConversations", request=SearchInput, responses=ConversationListOutput)
    def post(self, request: Request) -> Response:
        """Search by state, open, read, assignee, team, contact_ids, tag_ids, priority and dates."""
        query, per_page, cursor = self.search_body(request)
        sort = self.search_sort(request, CONVERSATION_SORT_FIELDS)
        page = selectors.conversations_search_page(
            condition=_conversation_q(query), per_page=per_page, cursor=cursor, sort=sort
        )
        return Response(conversation_list_json(page))


class ConversationReplyView(IntercomView):
    @extend_schema(operation_id="ReplyConversation", request=ReplyInput, responses=ConversationOutput)
    def post(self, request: Request, conversation_id: str) -> Response:
        """Reply as a teammate (comment or note) or as the contact (by intercom_user_id, user_id or email)."""
        conversation = conversation_get(conversation_id)
        # Files travel in the body (base64): it may be as large as the website's limits allow them.
        max_bytes = attachment_files_body_max_bytes(attachment_limits(conversation.website))
        values = self.parse(ReplyInput, self.body(request, max_bytes=max_bytes))
        attachment_urls_refuse(values.get("attachment_urls"))
        files = attachment_files_decode(values.get("attachment_files") or [])
        message = {"body": values["body"], "files": files, "files_field": ATTACHMENT_FILES}
        if values["type"] == "admin":
            admin = _acting_admin(request, values.get("admin_id"))
            if values["message_type"] == "note":
                services.conversation_add_note(conversation=conversation, teammate=admin, **message)
            else:
                services.conversation_reply_as_teammate(conversation=conversation, teammate=admin, **message)
        else:
            if values["message_type"] != "comment":
                raise ParameterInvalid("message_type", "A contact can only reply with a comment.")
            contact = selectors.contact_get_by_reference(
                user_id=values.get("user_id"),
                email=values.get("email"),
                intercom_user_id=values.get("intercom_user_id"),
            )
            if contact is None or contact.pk != conversation.contact_id:
                raise NotFound("User Not Found", field="intercom_user_id")
            services.conversation_reply_as_contact(conversation=conversation, **message)
        return _reloaded(conversation)


class ConversationPartsView(IntercomView):
    @extend_schema(operation_id="ManageConversation", request=ManageInput, responses=ConversationOutput)
    def post(self, request: Request, conversation_id: str) -> Response:
        """Close, open, snooze (snoozed_until) or assign (assignee_id, type admin|team)."""
        conversation = conversation_get(conversation_id)
        values = self.parse(ManageInput, self.body(request))
        admin = _acting_admin(request, values.get("admin_id"))
        kind = values["message_type"]
        if kind == "close" and values.get("body"):
            services.conversation_reply_and_close(conversation=conversation, teammate=admin, body=values["body"])
        elif kind == "close":
            services.conversation_close(conversation=conversation, teammate=admin)
        elif kind == "open":
            services.conversation_reopen(conversation=conversation, teammate=admin)
        elif kind == "snoozed":
            if "snoozed_until" not in values:
                raise ParameterNotFound("snoozed_until")
            services.conversation_snooze(conversation=conversation, teammate=admin, until=values["snoozed_until"])
        else:
            self._assign(conversation, admin=admin, values=values)
        return _reloaded(conversation)

    def _assign(self, conversation: Conversation, *, admin: Any, values: dict[str, Any]) -> None:
        if "assignee_id" not in values:
            raise ParameterNotFound("assignee_id")
        assignee_id = values["assignee_id"]
        team = None
        if values.get("type") == "team":
            team = selectors.team_get(team_id=assignee_id, field="assignee_id")
            assignee = conversation.assignee
        else:
            # Intercom unassigns with assignee_id "0".
            assignee = (
                None if str(assignee_id) == "0" else selectors.teammate_get(admin_id=assignee_id, field="assignee_id")
            )
        services.conversation_assign_with_note(
            conversation=conversation, teammate=admin, assignee=assignee, team=team, note=values.get("body") or ""
        )


class ConversationTagsView(IntercomView):
    @extend_schema(operation_id="AttachTagToConversation", request=TagAttachInput, responses=TagOutput)
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = conversation_get(conversation_id)
        values = self.parse(TagAttachInput, self.body(request))
        tag = selectors.tag_get(tag_id=values["id"], field="id")
        admin = _acting_admin(request, values.get("admin_id"))  # who tagged it, in the conversation's timeline
        services.conversation_tag(conversation=conversation, tag=tag, teammate=admin)
        return Response(TagOutput(tag).data)


class ConversationTagView(IntercomView):
    @extend_schema(operation_id="DetachTagFromConversation", request=TagDetachInput, responses={200: TagOutput})
    def delete(self, request: Request, conversation_id: str, tag_id: str) -> Response:
        conversation = conversation_get(conversation_id)
        values = self.parse(TagDetachInput, self.body(request))
        tag = selectors.tag_get(tag_id=tag_id)
        admin = _acting_admin(request, values.get("admin_id"))
        services.conversation_untag(conversation=conversation, tag=tag, teammate=admin)
        return Response(TagOutput(tag).data)
