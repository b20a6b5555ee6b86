from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # Registers the lower() lookups that search and selectors use on indexed fields.
        from api import search, services, webhooks  # noqa: F401
        from api.serializers.contacts import contact_json, contact_tag_item
        from api.serializers.conversations import conversation_item
        from contacts.services import register_change_listener

        # How each model appears as `data.item` in webhook notifications (Intercom's objects).
        webhooks.register_item_shaper("contacts.Contact", contact_json)
        webhooks.register_item_shaper("contacts.ContactTag", contact_tag_item)
        webhooks.register_item_shaper("conversations.Conversation", conversation_item)
        register_change_listener(services.webhooks_queue)
