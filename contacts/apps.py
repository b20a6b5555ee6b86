from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from contacts import integration
        from contacts.permissions import ensure_teammate_groups

        integration.connect()

        # Django creates permissions in post_migrate, so groups can only be filled after it.
        post_migrate.connect(ensure_teammate_groups, dispatch_uid="parley_teammate_groups")
