"""Addresses given before email_verified_at existed: those of contacts no messenger made (a teammate's, the API's, or
mail's own) count as shown, as they would be now; a messenger's stay unshown (contacts.services._email_mark).

In batches of ids, each its own transaction (the migration is not atomic): a big contact table is never held whole."""

from django.db import migrations
from django.utils import timezone

BATCH = 5000


def mark_addresses_no_messenger_gave(apps, schema_editor):
    Contact = apps.get_model("contacts", "Contact")  # noqa: N806 - the migration linter reads the name
    now, last = timezone.now(), 0
    while True:
        ids = list(Contact.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return
        last = ids[-1]
        Contact.objects.filter(
            pk__in=ids, first_website_id__isnull=True, email_verified_at__isnull=True
        ).exclude(email="").update(email_verified_at=now)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0015_contact_email_verified_at"),
    ]

    operations = [
        migrations.RunPython(mark_addresses_no_messenger_gave, migrations.RunPython.noop, elidable=True),
    ]
