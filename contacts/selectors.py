"""Reads reused by the admin and the API."""

from django.core.cache import cache
from django.db import connections
from django.db.models import Case, Max, QuerySet, Value, When
from django.db.models.functions import Lower

from common.teammates import PROFILE
from contacts.models import Contact, ContactNote, ContactTag, DataAttribute, Tag

COUNTRY_CHOICES_CACHE_SECONDS = 600


def contacts_with_email(*, email: str) -> QuerySet[Contact]:
    """Contacts whose email is `email`, case-insensitively, on the contact_email_ci index (lower(email)).

    The one way to look contacts up by email: callers narrow it (role, exclude, lock) as they need. The database lowers
    both sides, as the unique index contact_user_email_unique_ci compares them (see tags_named: "ann@Ça.example"
    twice was a 500 on SQLite).
    """
    return Contact.objects.annotate(email_ci=Lower("email")).filter(email_ci=Lower(Value(email)))


def contact_find_by_email(
    *, email: str, roles: tuple[str, ...] = (Contact.Role.USER, Contact.Role.LEAD)
) -> Contact | None:
    """The contact with this email (case-insensitive, on the contact_email_ci index), users first."""
    matches = contacts_with_email(email=email.strip()).filter(role__in=roles)
    by_role = {contact.role: contact for contact in matches.order_by("-pk")[:10]}
    return next((by_role[role] for role in roles if role in by_role), None)


def contact_for_inbound_email(*, email: str) -> Contact | None:
    """Who an email from `email` to the support address is from: the user, else the oldest lead, whose address was
    shown to be theirs (`email_verified_at`: a teammate's or the API's word, or earlier mail from it). Anyone can type
    any address into a messenger, and a signed-in user can send any email beside their signed user_id: a
    stranger's mail joined to such a contact would be read, with the team's answers, in that browser."""
    shown = contacts_with_email(email=email.strip()).filter(
        role__in=(Contact.Role.USER, Contact.Role.LEAD), email_verified_at__isnull=False
    )
    return shown.order_by(Case(When(role=Contact.Role.USER, then=0), default=1), "pk").first()


CONTACT_NOTES_SHOWN = 20


def contact_notes_recent(*, contact: Contact) -> list[ContactNote]:
    """The newest notes on the contact's page, with their authors (and the profiles that name them), in one query."""
    notes = contact.notes.select_related(f"author__{PROFILE}")
    return list(notes.order_by("-created_at", "-id")[:CONTACT_NOTES_SHOWN])


def contact_tag_names(*, contact_ids: list[int]) -> dict[int, list[str]]:
    """Tag names per contact, for a page or a chunk of contacts, in one query."""
    names: dict[int, list[str]] = {}
    links = ContactTag.objects.filter(contact_id__in=contact_ids).order_by("tag__name")
    for contact_id, name in links.values_list("contact_id", "tag__name"):
        names.setdefault(contact_id, []).append(name)
    return names


def contact_countries() -> list[tuple[str, str]]:
    """(code, name) of countries that contacts are in, cheap on a million rows, cached briefly."""
    cached = cache.get("contacts:countries")
    if cached is not None:
        return cached
    table = Contact._meta.db_table
    connection = connections[Contact.objects.db]
    if connection.vendor == "postgresql":
        # Loose index scan: one index probe per distinct country instead of reading every row.
        sql = f"""
            WITH RECURSIVE c AS (
                (SELECT country FROM {table} WHERE country > '' ORDER BY country LIMIT 1)
                UNION ALL
                SELECT (SELECT country FROM {table} WHERE country > c.country ORDER BY country LIMIT 1)
                FROM c WHERE c.country IS NOT NULL
            )
            SELECT country, (SELECT MAX(country_name) FROM (
                SELECT country_name FROM {table} t WHERE t.country = c.country LIMIT 1) n)
            FROM c WHERE country IS NOT NULL
        """  # noqa: S608 - the table name comes from the model, there is no user input
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
    else:
        rows = list(
            Contact.objects.exclude(country="")
            .values_list("country")
            .annotate(name=Max("country_name"))
            .order_by("country")
        )
    countries = [(code, name or code) for code, name in rows]
    cache.set("contacts:countries", countries, COUNTRY_CHOICES_CACHE_SECONDS)
    return countries


def contact_attribute_definitions(*, include_archived: bool = False) -> QuerySet[DataAttribute]:
    """The custom attributes defined for contacts (without the archived ones unless asked)."""
    definitions = DataAttribute.objects.filter(model=DataAttribute.Model.CONTACT)
    return definitions if include_archived else definitions.filter(archived=False)


def tags_named(name: str) -> QuerySet[Tag]:
    """The tag with this name, whatever its case, as the unique index tag_name_unique_ci compares: the database
    lowers both sides. Python's lower() folds "Ç" where SQLite's LOWER() does not, so a tag named with it was not
    found, and creating it again hit the index: a 500 (Schemathesis)."""
    return Tag.objects.annotate(name_ci=Lower("name")).filter(name_ci=Lower(Value(name)))


def tag_get_by_name(*, name: str) -> Tag | None:
    """The tag with this name, whatever its case (tag names are unique case-insensitively)."""
    return tags_named(name.strip()).first()


def tag_list() -> QuerySet[Tag]:
    """Every tag, by name."""
    return Tag.objects.order_by("name")
