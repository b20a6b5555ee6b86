"""The company order "most people first" (the contact list's Company filter lists these companies),
built concurrently on PostgreSQL: writes go on while it builds."""

from django.db import migrations, models

from common.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("companies", "0002_company_list_and_search_indexes"),
        ("contacts", "0009_privacy_audit_restrict_lift_object"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="company",
            index=models.Index(fields=["-user_count", "-id"], name="company_people_first"),
        ),
    ]
