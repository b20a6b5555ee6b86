"""Conversations: create from a contact, get, list, search, reply, manage, tag, delete."""

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.conversation_shapes import ConversationOutput, conversation_json, conversations_for_output
from api.errors import NotFound, ParameterInvalid, ParameterNotFound
from api.fields import UnixTimeField, unix
from api.pagination import cursor_decode, keyset_page, per_page_clean
from api.permissions import acting_teammate_check
from api.search import FieldSpec, QueryCompiler
from api.serializers import SearchInput, TagAttachInput, TagOutput
from api.views.base import IntercomView
from api.views.contacts import PER_PAGE_PARAMETERS
from contacts.deletion import rows_delete_with_history
from conversations import services
from conversations.models import Conversation, Team

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
    "tag_ids": FieldSpec("tag", "tags"),
}


def _conversation_q(query: Any) -> Any:
    compiler = QueryCompiler(CONVERSATION_FIELDS)
    # `open` and `read` are booleans over other columns: rewrite them before compiling.
    return compiler.compile(_rewrite(query))


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict) and node.get("operator") in ("AND", "OR") and isinstance(node.get("value"), list):
        return {**node, "value": [_rewrite(child) for child in node["value"]]}
    if isinstance(node, dict) and node.get("field") in ("open", "read") and node.get("operator") in ("=", "!="):
        value = node.get("value")
        if isinstance(value, str):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ParameterInvalid(node["field"], f"{node['field']} must be compared with true or false.")
        positive = value == (node["operator"] == "=")
        if node["field"] == "open":
            return {"field": "state", "operator": "!=" if positive else "=", "value": Conversation.State.CLOSED}
        return {"field": "teammate_unread_count", "operator": "=" if positive else ">", "value": 0}
    return node


CONVERSATION_FIELDS["teammate_unread_count"] = FieldSpec("integer", "teammate_unread_count")


def conversation_get(conversation_id: Any) -> Conversation:
    pk = selectors.pk_from_id(conversation_id)
    conversation = conversations_for_output(with_parts=True).filter(pk=pk).first() if pk is not None else None
    if conversation is None:
        raise NotFound("Conversation Not Found")
    return conversation


def _reloaded(conversation: Conversation) -> Response:
    return Response(conversation_json(conversation_get(conversation.pk)))


class ContactReference(serializers.Serializer):
    type = serializers.ChoiceField(choices=["user", "lead", "contact"])
    id = serializers.CharField(max_length=20)


class ConversationCreateInput(serializers.Serializer):
    from_ = ContactReference()
    body = serializers.CharField()
    created_at = UnixTimeField(required=False, help_text="Accepted and ignored: Parley stamps the time.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class ConversationMessageOutput(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    created_at = serializers.IntegerField()
    body = serializers.CharField()
    message_type = serializers.CharField()
    conversation_id = serializers.CharField()


class ReplyInput(serializers.Serializer):
    message_type = serializers.ChoiceField(choices=["comment", "note"])
    type = serializers.ChoiceField(choices=["admin", "user"])
    body = serializers.CharField()
    admin_id = serializers.CharField(required=False, max_length=20)
    intercom_user_id = serializers.CharField(required=False, max_length=20)
    user_id = serializers.CharField(required=False, max_length=255)
    email = serializers.CharField(required=False, max_length=254)


class ManageInput(serializers.Serializer):
    message_type = serializers.ChoiceField(choices=["close", "open", "snoozed", "assignment"])
    admin_id = serializers.CharField(max_length=20, required=False)
    body = serializers.CharField(required=False, allow_blank=True)
    snoozed_until = UnixTimeField(required=False)
    type = serializers.ChoiceField(choices=["admin", "team"], required=False)
    assignee_id = serializers.CharField(required=False, max_length=20)


class ConversationListOutput(serializers.Serializer):
    type = serializers.CharField(default="conversation.list")
    conversations = ConversationOutput(many=True)
    total_count = serializers.IntegerField()
    pages = serializers.DictField()


class ConversationDeletedOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="conversation")
    deleted = serializers.BooleanField()


def _acting_admin(request: Request, admin_id: Any) -> Any:
    if not admin_id:
        return request.user
    return acting_teammate_check(request, selectors.teammate_get(admin_id=admin_id, field="admin_id"), field="admin_id")


def _list(queryset: Any, *, per_page: int, cursor: Any) -> Response:
    page = keyset_page(queryset, per_page=per_page, cursor=cursor)
    return Response(
        {
            "type": "conversation.list",
            "conversations": ConversationOutput(page.rows, many=True, context={"with_parts": False}).data,
            "total_count": page.total_count,
            "pages": page.pages_json(),
        }
    )


class ConversationsView(IntercomView):
    @extend_schema(operation_id="ListConversations", parameters=PER_PAGE_PARAMETERS, responses=ConversationListOutput)
    def get(self, request: Request) -> Response:
        """Conversations newest first (without their parts), with cursor pagination."""
        per_page = per_page_clean(request.query_params.get("per_page"))
        cursor = cursor_decode(request.query_params.get("starting_after"))
        return _list(conversations_for_output(with_parts=False), per_page=per_page, cursor=cursor)

    @extend_schema(
        operation_id="CreateConversation", request=ConversationCreateInput, responses=ConversationMessageOutput
    )
    def post(self, request: Request) -> Response:
        """A contact starts a conversation (a visitor becomes a lead); answers with the message."""
        values = self.parse(ConversationCreateInput, self.body(request))
        contact = selectors.contact_get(contact_id=values["from"]["id"], field="from.id")
        conversation = services.conversation_start_by_contact(contact=contact, body=values["body"])
        part = conversation.parts.order_by("created_at", "id").first()
        return Response(
            {
                "type": "user_message",
                "id": str(part.pk if part else conversation.pk),
                "created_at": unix(conversation.created_at),
                "body": values["body"],
                "message_type": "inapp",
                "conversation_id": str(conversation.pk),
            }
        )


class ConversationView(IntercomView):
    @extend_schema(
        operation_id="RetrieveConversation",
        parameters=[OpenApiParameter("display_as", str, description="Accepted; bodies are HTML")],
        responses=ConversationOutput,
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        return Response(conversation_json(conversation_get(conversation_id)))

    @extend_schema(operation_id="DeleteConversation", responses={200: ConversationDeletedOutput})
    def delete(self, request: Request, conversation_id: str) -> Response:
        """Delete the conversation with its parts."""
        conversation = conversation_get(conversation_id)
        with transaction.atomic():
            rows_delete_with_history(model=Conversation, pks=[conversation.pk])
        return Response({"id": str(conversation.pk), "object": "conversation", "deleted": True})


class ConversationSearchView(IntercomView):
    @extend_schema(operation_id="SearchConversations", request=SearchInput, responses=ConversationListOutput)
    def post(self, request: Request) -> Response:
        """Search by state, open, read, assignee, team, contact_ids, tag_ids, priority and dates."""
        query, per_page, cursor = self.search_body(request)
        condition = _conversation_q(query)
        matching = Conversation.objects.filter(condition).values("pk")
        queryset = conversations_for_output(with_parts=False).filter(pk__in=matching)
        return _list(queryset, per_page=per_page, cursor=cursor)


class ConversationReplyView(IntercomView):
    @extend_schema(operation_id="ReplyConversation", request=ReplyInput, responses=ConversationOutput)
    def post(self, request: Request, conversation_id: str) -> Response:
        """Reply as a teammate (comment or note) or as the contact (by intercom_user_id, user_id or email)."""
        conversation = conversation_get(conversation_id)
        values = self.parse(ReplyInput, self.body(request))
        if values["type"] == "admin":
            admin = _acting_admin(request, values.get("admin_id"))
            if values["message_type"] == "note":
                services.conversation_add_note(conversation=conversation, teammate=admin, body=values["body"])
            else:
                services.conversation_reply_as_teammate(conversation=conversation, teammate=admin, body=values["body"])
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
            services.conversation_reply_as_contact(conversation=conversation, body=values["body"])
        return _reloaded(conversation)


class ConversationPartsView(IntercomView):
    @extend_schema(operation_id="ManageConversation", request=ManageInput, responses=ConversationOutput)
    def post(self, request: Request, conversation_id: str) -> Response:
        """Close, open, snooze (snoozed_until) or assign (assignee_id, type admin|team)."""
        conversation = conversation_get(conversation_id)
        values = self.parse(ManageInput, self.body(request))
        admin = _acting_admin(request, values.get("admin_id"))
        kind = values["message_type"]
        with transaction.atomic():
            if kind == "close":
                if values.get("body"):
                    services.conversation_reply_as_teammate(
                        conversation=conversation, teammate=admin, body=values["body"]
                    )
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
        if values.get("type") == "team":
            team = Team.objects.filter(pk=selectors.pk_from_id(assignee_id) or 0).first()
            if team is None:
                raise NotFound("Team Not Found", field="assignee_id")
            services.conversation_assign(
                conversation=conversation, teammate=admin, assignee=conversation.assignee, team=team
            )
        else:
            # Intercom unassigns with assignee_id "0".
            assignee = (
                None if str(assignee_id) == "0" else selectors.teammate_get(admin_id=assignee_id, field="assignee_id")
            )
            services.conversation_assign(conversation=conversation, teammate=admin, assignee=assignee)
        if values.get("body"):
            services.conversation_add_note(conversation=conversation, teammate=admin, body=values["body"])


class ConversationTagsView(IntercomView):
    @extend_schema(operation_id="AttachTagToConversation", request=TagAttachInput, responses=TagOutput)
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = conversation_get(conversation_id)
        values = self.parse(TagAttachInput, self.body(request))
        tag = selectors.tag_get(tag_id=values["id"], field="id")
        services.conversation_tag(conversation=conversation, tag=tag)
        return Response(TagOutput(tag).data)


class ConversationTagView(IntercomView):
    @extend_schema(operation_id="DetachTagFromConversation", responses={200: TagOutput})
    def delete(self, request: Request, conversation_id: str, tag_id: str) -> Response:
        conversation = conversation_get(conversation_id)
        tag = selectors.tag_get(tag_id=tag_id)
        services.conversation_untag(conversation=conversation, tag=tag)
        return Response(TagOutput(tag).data)
