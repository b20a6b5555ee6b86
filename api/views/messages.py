"""Messages: POST /messages sends an in-app or email message from a teammate to one contact."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import NotFound, ParameterInvalid
from api.permissions import acting_teammate_check
from api.serializers.messages import CHANNEL_BY_MESSAGE_TYPE, MessageCreateInput, MessageOutput, message_json
from api.views.base import IntercomView
from conversations import services

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 64


class MessagesView(IntercomView):
    @extend_schema(
        operation_id="CreateMessage",
        request=MessageCreateInput,
        responses=MessageOutput,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                location=OpenApiParameter.HEADER,
                required=False,
                description="The same key again (per admin) answers the first message and sends nothing.",
            )
        ],
    )
    def post(self, request: Request) -> Response:
        """Send through the admin's outbound service: queued, tracked (opens, clicks, unsubscribe), at most once;
        with create_conversation_without_contact_reply, it opens a conversation with the contact at once."""
        values = self.parse(MessageCreateInput, self.body(request))
        sender = request.user
        if values.get("from"):
            admin = selectors.teammate_get(admin_id=values["from"]["id"], field="from.id")
            sender = acting_teammate_check(request, admin, field="from.id")
        to = values["to"]
        if not any(to.get(key) for key in ("id", "user_id", "email")):
            raise ParameterInvalid("to", "to needs id, user_id or email.")
        contact = selectors.contact_get_by_reference(
            intercom_user_id=to.get("id"), user_id=to.get("user_id"), email=to.get("email")
        )
        if contact is None:
            raise NotFound("User Not Found", field="to")
        with _audience_named_to():
            message = services.message_send(
                sender=sender,
                channel=CHANNEL_BY_MESSAGE_TYPE[values["message_type"]],
                subject=values.get("subject", ""),
                body=values["body"],
                contact_ids=[contact.pk],
                idempotency_key=_idempotency_key(request),
                open_conversation=values.get("create_conversation_without_contact_reply", False),
            )
        return Response(message_json(message, conversation_id=selectors.message_conversation_id(message=message)))


@contextmanager
def _audience_named_to() -> Iterator[None]:
    """The service's refusals of the audience (`recipients`) name the API's field for it: `to`."""
    try:
        yield
    except ValidationError as error:
        if hasattr(error, "error_dict") and "recipients" in error.error_dict:
            error.error_dict["to"] = error.error_dict.pop("recipients")
        raise


def _idempotency_key(request: Request) -> str | None:
    """The caller's Idempotency-Key, scoped to its admin so that two teammates' keys never meet."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise ParameterInvalid(
            IDEMPOTENCY_HEADER, f"{IDEMPOTENCY_HEADER} is at most {MAX_IDEMPOTENCY_KEY} printable ASCII characters."
        )
    return f"api:{request.user.pk}:{key}"
