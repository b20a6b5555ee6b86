from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # Registers the lower() lookups that search and selectors use on indexed fields.
        from api import integration, search  # noqa: F401

        integration.connect()
