"""How the conversations app plugs into contacts (merge, export, admin panel)."""

from typing import Any

from django.db.models.signals import post_delete

from common.teammates import PROFILE
from contacts.models import Contact


def _export_attachments(part: Any) -> list[dict[str, Any]]:
    """A message's files: what they are, and a teammate's link to each (it works for
    PARLEY_ATTACHMENT_URL_MAX_AGE, so whoever answers the request downloads them to hand over)."""
    from django.conf import settings

    from conversations.admin.attachments import attachment_admin_url

    return [
        {"name": a.name, "content_type": a.content_type, "size": a.size, "created_at": a.created_at.isoformat(),
         "url": settings.PUBLIC_URL + attachment_admin_url(a)}
        for a in part.attachments.all()
    ]  # fmt: skip


def _export_conversations(contact: Contact) -> list[dict[str, Any]]:
    from conversations.models import TEAM_ONLY_PARTS, Conversation

    rows = []
    conversations = Conversation.objects.filter(contact=contact).prefetch_related("parts__attachments")
    for conversation in conversations.order_by("id"):
        rows.append({
            "id": conversation.public_id, "state": conversation.state, "created_at": conversation.created_at,
            "title": conversation.title, "custom_attributes": conversation.custom_attributes,
            "parts": [
                {"type": p.part_type, "author": "contact" if p.author_contact_id else "teammate", "body": p.body,
                 "created_at": p.created_at.isoformat(), "attachments": _export_attachments(p)}
                for p in conversation.parts.all() if p.part_type not in TEAM_ONLY_PARTS
            ],
        })  # fmt: skip
    return rows


def _export_messages(contact: Contact) -> list[dict[str, Any]]:
    """Each message as the person got it, placeholders filled ("Hi Ada", not the template's "Hi {{contact.…}}"),
    from their record as it is now."""
    from conversations.models import MessageDelivery
    from conversations.services.placeholders import placeholders_render

    deliveries = (
        MessageDelivery.objects.filter(contact=contact)
        .select_related(f"message__sender__{PROFILE}")  # the teammate's display name ({{teammate.name}})
        .order_by("id")
    )
    return [
        {"channel": d.message.channel,
         "subject": placeholders_render(d.message.subject, contact=contact, teammate=d.message.sender),
         "body": placeholders_render(d.message.body, contact=contact, teammate=d.message.sender), "state": d.state,
         "sent_at": d.sent_at, "opened_at": d.opened_at, "clicked_at": d.clicked_at}
        for d in deliveries
    ]  # fmt: skip


def _export_ratings(contact: Contact) -> list[dict[str, Any]]:
    from conversations.models import ConversationRating

    return [
        {"conversation": r.conversation.public_id, "rating": r.rating, "remark": r.remark,
         "requested_at": r.requested_at, "rated_at": r.rated_at, "updated_at": r.updated_at,
         "emailed_at": r.emailed_at}
        for r in ConversationRating.objects.filter(contact=contact).select_related("conversation").order_by("id")
    ]  # fmt: skip


def _attachment_files_delete(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    """Django's own deletions (the admin's delete pages, QuerySet.delete) take an attachment's files with it.
    contacts.deletion's set-based deletes send no signal and remove the files themselves."""
    from contacts.deletion import stored_files_delete_on_commit

    stored = [(field.storage, field.name) for field in (instance.file, instance.thumbnail) if field.name]
    if stored:
        stored_files_delete_on_commit(stored, using=using)


def connect() -> None:
    from companies.panels import CompanyPanel, register_company_panel
    from contacts import lifecycle
    from contacts.panels import ContactAction, ContactPanel, register_contact_action, register_contact_panel
    from contacts.uses import register_use_finders
    from conversations import selectors
    from conversations.models import Attachment, Conversation, ConversationPart, ConversationRating, MessageDelivery
    from conversations.services.outbound import delivery_merge
    from conversations.services.threads import conversations_merge

    post_delete.connect(_attachment_files_delete, sender=Attachment, dispatch_uid="attachment-files")
    # A tag an assignment rule or a saved reply names is not deleted: the rule would go with it (its condition)
    # or silently lose its action, the saved reply what it adds.
    register_use_finders(
        app="conversations",
        attribute=lambda attribute: [],
        tag=lambda tags: selectors.tags_uses_in_conversations(tags=tags),
    )

    lifecycle.register(
        lifecycle.ContactRows(
            app="conversations",
            merge={Conversation: conversations_merge, MessageDelivery: delivery_merge},
            export=(
                lifecycle.ExportSection(
                    "conversations", _export_conversations, models=(Conversation, ConversationPart, Attachment)
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
