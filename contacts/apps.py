from django.apps import AppConfig
from django.contrib.auth import apps as auth_apps


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


class TeammatesAuthConfig(auth_apps.AuthConfig):
    """Django's auth app, under the name the admin shows for it: where a team finds its teammates ("Authentication
    and Authorization" says nothing to whoever runs a support team). Not this module's default: "contacts" is
    ContactsConfig (Django picks a module's one default AppConfig; AuthConfig is imported through its module)."""

    default = False
    verbose_name = "Teammates"
