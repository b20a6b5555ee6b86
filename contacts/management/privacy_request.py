"""What `erase_contact` and `export_contact` share: finding the person a privacy request names."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from contacts.models import Contact
from contacts.selectors import contacts_with_email


def add_person_arguments(parser: CommandParser) -> None:
    parser.add_argument("contact_id", nargs="?", help="Contact id (as shown in the admin).")
    parser.add_argument("--email", help="Every contact with this email (case-insensitive).")
    parser.add_argument("--external-id", help="The user with this user id (external id).")
    parser.add_argument(
        "--all", action="store_true", help="When the email matches several contacts, act on all of them."
    )
    parser.add_argument("--actor", help="Username of the teammate handling the request, for the audit log.")


def find_contacts(options: dict[str, Any]) -> list[Contact]:
    """The contacts named by exactly one of ID, --email or --external-id; CommandError otherwise."""
    given = [name for name in ("contact_id", "email", "external_id") if options.get(name)]
    if len(given) != 1:
        raise CommandError("Name the person with exactly one of: ID, --email EMAIL, --external-id USER_ID.")
    if options.get("contact_id"):
        if not str(options["contact_id"]).isdigit():
            raise CommandError(f"ID must be a contact id (a whole number), not {options['contact_id']!r}.")
        contacts = list(Contact.objects.filter(pk=int(options["contact_id"])))
        what = f"id {options['contact_id']}"
    elif options.get("external_id"):
        contacts = list(Contact.objects.filter(external_id=options["external_id"].strip()))
        what = f"external id {options['external_id']!r}"
    else:
        contacts = list(contacts_with_email(email=options["email"].strip()).order_by("pk"))
        what = f"email {options['email']!r}"
    if not contacts:
        raise CommandError(f"No contact with {what}.")
    if len(contacts) > 1 and not options.get("all"):
        ids = ", ".join(str(contact.pk) for contact in contacts)
        raise CommandError(f"{len(contacts)} contacts have {what} (ids {ids}); pass --all, or name one by ID.")
    return contacts


def find_actor(options: dict[str, Any]) -> Any:
    username = options.get("actor")
    if not username:
        return None
    user_model = get_user_model()
    try:
        return user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist:
        raise CommandError(f"No teammate with username {username!r}.") from None
