from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # Registers the lower() lookups that search and selectors use on indexed fields.
        from api import item_shapes, search, services  # noqa: F401
        from contacts.services import register_change_listener

        item_shapes.register()
        register_change_listener(services.webhooks_queue)
