"""Demo contacts, tags and custom attributes for `seed_demo` (bulk inserts: 100k in seconds)."""

import datetime as dt
import random
import uuid
from typing import Any

from django.core.management.color import no_style
from django.db import connections, models, router
from django.utils import timezone

from contacts.models import Contact, ContactTag, DataAttribute, Tag

FIRST_NAMES = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Guido",
               "Hedy", "Tim", "Radia", "Donald", "Katherine", "Edsger", "Sophie", "Yukihiro", "Anita", "Bjarne"]  # fmt: skip
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen",
              "van Rossum", "Lamarr", "Berners-Lee", "Perlman", "Knuth", "Johnson", "Dijkstra", "Wilson", "Matsumoto"]  # fmt: skip
PLACES = [("Paris", "FR", "France"), ("Berlin", "DE", "Germany"), ("London", "GB", "United Kingdom"),
          ("New York", "US", "United States"), ("São Paulo", "BR", "Brazil"), ("Tokyo", "JP", "Japan"),
          ("Lagos", "NG", "Nigeria"), ("Sydney", "AU", "Australia"), ("Montréal", "CA", "Canada"), ("", "", "")]  # fmt: skip
DEVICES = [("Mac OS X", "Chrome", "131.0"), ("Windows", "Edge", "131.0"), ("iOS", "Mobile Safari", "18.1"),
           ("Android", "Chrome Mobile", "130.0"), ("Linux", "Firefox", "132.0"), ("Windows", "Firefox", "128.0")]  # fmt: skip
LANGUAGES = ["en-US", "fr-FR", "de-DE", "en-GB", "es-ES", "pt-BR", "ja-JP"]
TAGS = ["vip", "beta tester", "churn risk", "enterprise", "newsletter", "feedback"]
ATTRIBUTES = [  # name, type, options, label
    ("plan", DataAttribute.DataType.STRING, ["free", "pro", "enterprise"], "Plan"),
    ("seats", DataAttribute.DataType.INTEGER, [], "Seats"),
    ("trial", DataAttribute.DataType.BOOLEAN, [], "On trial"),
    ("mrr", DataAttribute.DataType.FLOAT, [], "MRR"),
]
BATCH_SIZE = 5000


def seed(*, contacts: int, rng: random.Random) -> list[int]:
    """Create `contacts` people (70% visitors, 10% leads, 20% users); returns their ids."""
    for name, data_type, options, label in ATTRIBUTES:
        DataAttribute.objects.get_or_create(
            model=DataAttribute.Model.CONTACT, name=name,
            defaults={"data_type": data_type, "options": options, "label": label},
        )  # fmt: skip
    tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
    now = timezone.now()
    start_id = (Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    for batch_start in range(0, contacts, BATCH_SIZE):
        batch_ids = range(start_id + batch_start, start_id + min(contacts, batch_start + BATCH_SIZE))
        _insert_rows(Contact, [_contact(pk, rng, now) for pk in batch_ids])
    ids = list(range(start_id, start_id + contacts))
    links = [
        ContactTag(contact_id=pk, tag=tag)
        for pk in rng.sample(ids, k=min(len(ids), max(1, len(ids) // 5)))
        for tag in rng.sample(tags, k=rng.randint(1, 2))
    ]
    ContactTag.objects.bulk_create(links, batch_size=BATCH_SIZE, ignore_conflicts=True)
    return ids


def _insert_rows(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """executemany with values prepared once: bulk_create costs ~0.3 ms a row on this wide table."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    fields = [model._meta.get_field(name) for name in rows[0]]
    # Only these types need the backend's adaptation; text, numbers and booleans go as they are.
    adapted = [isinstance(f, models.DateTimeField | models.UUIDField | models.JSONField) for f in fields]
    quote = connection.ops.quote_name
    # Table and column names come from the model's own metadata, never from input.
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    values = [
        tuple(
            field.get_db_prep_save(value, connection) if needs else value
            for field, needs, value in zip(fields, adapted, row.values(), strict=True)
        )
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)
        # Explicit ids do not advance PostgreSQL's sequence; later inserts must not collide with them.
        for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(statement)


def _contact(pk: int, rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    """One contact row, every column given (the insert bypasses model defaults)."""
    roll = rng.random()
    role = Contact.Role.VISITOR if roll < 0.7 else Contact.Role.LEAD if roll < 0.8 else Contact.Role.USER
    # A tenth of visitors were last seen over nine months ago: retention will expire them.
    days_ago = rng.uniform(280, 400) if role == Contact.Role.VISITOR and rng.random() < 0.1 else rng.expovariate(1 / 20)
    last_seen = now - dt.timedelta(days=min(days_ago, 500))
    first_seen = last_seen - dt.timedelta(days=rng.uniform(0, 120))
    city, country, country_name = rng.choice(PLACES)
    os_name, browser, version = rng.choice(DEVICES)
    name = email = ""
    if role != Contact.Role.VISITOR:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first} {last}"
        email = f"{first}.{last}.{pk}@example.com".lower().replace(" ", "")
    is_user = role == Contact.Role.USER
    custom_attributes = (
        {"plan": rng.choice(["free", "pro", "enterprise"]), "seats": rng.randint(1, 200), "trial": rng.random() < 0.2}
        if is_user
        else {}
    )
    return {
        "id": pk, "role": role, "external_id": f"user-{pk}" if is_user else None,
        "anonymous_id": uuid.UUID(int=rng.getrandbits(128), version=4), "name": name, "email": email, "phone": "",
        "email_verified_at": first_seen if email else None,  # as an import by the API would mark them
        "avatar": "", "owner": None, "signed_up_at": first_seen if is_user else None, "first_seen_at": first_seen,
        "last_seen_at": last_seen, "web_sessions_count": rng.randint(1, 30), "city": city, "country": country,
        "country_name": country_name, "os": os_name, "browser": browser, "browser_version": version,
        "browser_language": rng.choice(LANGUAGES), "language_override": "", "last_contacted_at": None,
        "last_replied_at": None, "last_email_opened_at": None, "last_email_clicked_at": None,
        "unsubscribed_from_emails": False, "custom_attributes": custom_attributes, "is_archived": False,
        "analytics_consent": None, "marketing_consent": None, "consent_source": "", "consent_updated_at": None,
        "processing_restricted": False, "created_at": first_seen, "updated_at": now,
    }  # fmt: skip
