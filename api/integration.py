"""How the api app plugs into the others: webhooks subscribe to their domain events, and its own
rows that reach a contact take their place in the contact lifecycle."""

from typing import Any

from companies.models import Company, CompanyContact
from companies.signals import company_changed, company_contact_changed
from contacts import lifecycle
from contacts.models import Contact, ContactTag
from contacts.signals import contact_changed, contact_tag_changed
from conversations.models import Conversation
from conversations.signals import conversation_changed


def _contact_changed(sender: Any, *, topic: str, contact: Contact, **kwargs: Any) -> None:
    from api import services
    from api.serializers.contacts import contact_json

    if topic == "contact.deleted":
        # GDPR erase: the deletion notice carries Parley's id only (not even the site's user id), and
        # every earlier delivery about the person goes with the contact (WebhookDelivery.contact).
        contact_id = contact.pk
        services.webhooks_queue(topic=topic, item=lambda: {"type": "contact", "id": str(contact_id)}, contact_id=None)
        return
    services.webhooks_queue(topic=topic, item=lambda: contact_json(contact), contact_id=contact.pk)


def _contact_tag_changed(sender: Any, *, topic: str, link: ContactTag, **kwargs: Any) -> None:
    from api import services
    from api.serializers.contacts import contact_tag_item

    services.webhooks_queue(topic=topic, item=lambda: contact_tag_item(link), contact_id=link.contact_id)


def _conversation_changed(sender: Any, *, topic: str, conversation: Conversation, **kwargs: Any) -> None:
    from api import services
    from api.serializers.conversations import conversation_item

    services.webhooks_queue(
        topic=topic, item=lambda: conversation_item(conversation), contact_id=conversation.contact_id
    )


def _company_changed(sender: Any, *, topic: str, company: Company, **kwargs: Any) -> None:
    from api import services
    from api.serializers.companies import company_json

    services.webhooks_queue(topic=topic, item=lambda: company_json(company), contact_id=None)


def _company_contact_changed(sender: Any, *, topic: str, membership: CompanyContact, **kwargs: Any) -> None:
    from api import services
    from api.serializers.companies import company_contact_item

    services.webhooks_queue(
        topic=topic, item=lambda: company_contact_item(membership), contact_id=membership.contact_id
    )


def connect() -> None:
    contact_changed.connect(_contact_changed, dispatch_uid="api.webhooks.contact_changed")
    contact_tag_changed.connect(_contact_tag_changed, dispatch_uid="api.webhooks.contact_tag_changed")
    conversation_changed.connect(_conversation_changed, dispatch_uid="api.webhooks.conversation_changed")
    company_changed.connect(_company_changed, dispatch_uid="api.webhooks.company_changed")
    company_contact_changed.connect(_company_contact_changed, dispatch_uid="api.webhooks.company_contact_changed")
    lifecycle.register(
        lifecycle.ContactRows(
            app="api",
            not_exported={
                "api.WebhookDelivery": "the log of what was sent to the team's own integrations (copies of "
                "exported rows); moved by merge and deleted by erase and expiry",
            },
        )
    )
