"""Teammate groups: "viewer" reads everything (one record at a time: no bulk export), "agent" does the daily
support work."""

from typing import Any

from django.apps import apps as global_apps

PARLEY_APPS = (
    "contacts", "companies", "tracking", "conversations", "retention", "segments", "api", "privacy", "reports",
)  # fmt: skip
VIEWER_GROUP = "viewer"
AGENT_GROUP = "agent"
# Agents edit people and conversations but neither erase contacts nor change site-wide settings.
# They hold API tokens for themselves only (api/admin.py): create them, and rename or revoke them.
# The REST API maps each operation onto these (api/permissions.py, docs/api.md).
AGENT_EXTRA_PERMISSIONS = {
    "contacts": {
        "add_contact", "change_contact", "add_tag", "change_tag", "add_contacttag", "delete_contacttag",
        "add_contactnote", "export_contact",
    },
    # Companies and memberships, not deleting a company (as contacts: a site-wide, irreversible act).
    "companies": {"add_*", "change_*", "delete_companycontact", "delete_companytag", "export_company"},
    "conversations": {"add_*", "change_*"},
    # Segments are shared saved views of the contact list: agents save and edit them, never delete.
    "segments": {"add_segment", "change_segment"},
    "api": {"add_apitoken", "change_apitoken"},
    # Agents record and carry out data subject requests; an erasure also needs contacts.delete_contact.
    "privacy": {"add_datasubjectrequest", "change_datasubjectrequest"},
}  # fmt: skip


# Site-wide settings of the conversations app an agent reads but does not change: the assignment rules,
# office hours and SLA targets (the superuser, or a group the operator makes, manages them).
AGENT_DENIED_PERMISSIONS = {
    "conversations": {
        f"{action}_{model}"
        for action in ("add", "change", "delete")
        for model in ("assignmentrule", "officeschedule", "officeinterval", "officeholiday", "slapolicy", "slabreach")
    },
}


def agent_may(app_label: str, codename: str) -> bool:
    """Whether the agent group holds this permission (other than a view_ one)."""
    if app_label not in PARLEY_APPS:
        return False
    if codename in AGENT_DENIED_PERMISSIONS.get(app_label, set()):
        return False
    allowed = AGENT_EXTRA_PERMISSIONS.get(app_label, set())
    action = codename.split("_", 1)[0]
    return codename in allowed or f"{action}_*" in allowed


def _last_app_with_models() -> Any:
    """The app post_migrate is sent for last (emit_post_migrate_signal: installed apps with models, in order)."""
    return [config for config in global_apps.get_app_configs() if config.models_module is not None][-1]


def ensure_teammate_groups(sender: Any = None, apps: Any = global_apps, **kwargs: Any) -> None:
    """Create or refresh the two groups; runs after every migrate so new models are covered. Django sends
    post_migrate once per app, each app's permissions made by then: the groups are filled after the last app's
    (a database flush sends it too: filling them ~20 times took 0.07 s of every transactional test's teardown)."""
    if sender is not None and sender is not _last_app_with_models():
        return
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:
        return
    permissions = list(
        Permission.objects.filter(content_type__app_label__in=PARLEY_APPS).select_related("content_type")
    )
    if not permissions:
        return
    viewer, _ = Group.objects.get_or_create(name=VIEWER_GROUP)
    agent, _ = Group.objects.get_or_create(name=AGENT_GROUP)
    view = [p for p in permissions if p.codename.startswith("view_")]
    viewer.permissions.set(view)
    agent.permissions.set(view + [p for p in permissions if agent_may(p.content_type.app_label, p.codename)])
