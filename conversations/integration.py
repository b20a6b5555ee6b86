"""How the conversations app plugs into contacts (merge, export, admin panel)."""

from typing import Any

from contacts.models import Contact


def _export_conversations(contact: Contact) -> list[dict[str, Any]]:
    from conversations.models import Conversation, ConversationPart

    rows = []
    for conversation in Conversation.objects.filter(contact=contact).prefetch_related("parts").order_by("id"):
        rows.append({
            "id": conversation.public_id, "state": conversation.state, "created_at": conversation.created_at,
            "title": conversation.title, "custom_attributes": conversation.custom_attributes,
            "parts": [
                {"type": p.part_type, "author": "contact" if p.author_contact_id else "teammate", "body": p.body,
                 "created_at": p.created_at.isoformat()}
                for p in conversation.parts.all() if p.part_type != ConversationPart.Type.NOTE
            ],
        })  # fmt: skip
    return rows


def _export_messages(contact: Contact) -> list[dict[str, Any]]:
    from conversations.models import MessageDelivery

    return [
        {"channel": d.message.channel, "subject": d.message.subject, "body": d.message.body, "state": d.state,
         "sent_at": d.sent_at, "opened_at": d.opened_at, "clicked_at": d.clicked_at}
        for d in MessageDelivery.objects.filter(contact=contact).select_related("message").order_by("id")
    ]  # fmt: skip


def _export_ratings(contact: Contact) -> list[dict[str, Any]]:
    from conversations.models import ConversationRating

    return [
        {"conversation": r.conversation.public_id, "rating": r.rating, "remark": r.remark,
         "requested_at": r.requested_at, "rated_at": r.rated_at, "updated_at": r.updated_at,
         "emailed_at": r.emailed_at}
        for r in ConversationRating.objects.filter(contact=contact).select_related("conversation").order_by("id")
    ]  # fmt: skip


def connect() -> None:
    from companies.panels import CompanyPanel, register_company_panel
    from contacts import lifecycle
    from contacts.panels import ContactAction, ContactPanel, register_contact_action, register_contact_panel
    from conversations import selectors
    from conversations.models import Conversation, ConversationPart, ConversationRating, MessageDelivery
    from conversations.services.outbound import delivery_merge
    from conversations.services.threads import conversations_merge

    lifecycle.register(
        lifecycle.ContactRows(
            app="conversations",
            merge={Conversation: conversations_merge, MessageDelivery: delivery_merge},
            export=(
                lifecycle.ExportSection(
                    "conversations", _export_conversations, models=(Conversation, ConversationPart)
                ),
                lifecycle.ExportSection("messages", _export_messages, models=(MessageDelivery,)),
                # Ratings and remarks are the person's opinions: theirs to export, erased with them.
                lifecycle.ExportSection("conversation_ratings", _export_ratings, models=(ConversationRating,)),
            ),
        )
    )
    register_contact_panel(
        ContactPanel(
            order=30,
            title="Conversations",
            template="admin/conversations/contact_panel.html",
            rows=selectors.conversations_for_contact_panel,
        )
    )
    register_company_panel(
        CompanyPanel(
            order=20,
            title="Their recent conversations",
            template="admin/conversations/company_panel.html",
            rows=selectors.conversations_for_company_panel,
        )
    )
    from conversations.admin.outbound import SEND_MESSAGE_PERMISSION, send_message_to_contacts

    register_contact_action(ContactAction(function=send_message_to_contacts, permission=SEND_MESSAGE_PERMISSION))
