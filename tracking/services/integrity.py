"""Page views and events whose contact or session no longer exists ("orphans"): the cleanup.

These tables reference contacts and sessions without a database foreign key (docs/partitioning.md,
Integrity). The lock protocol of contacts.deletion keeps orphans from appearing; `manage.py
history_orphans` counts them (tracking.selectors.history_orphans_count) and, with `--delete`, deletes
them here. A row whose parent is gone can never become valid again (ids are never reused), so deleting
it races with nothing.
"""

from collections import Counter

from django.db import transaction

from tracking.selectors import history_orphans, history_parent_links

DEFAULT_BATCH_SIZE = 10_000


def history_orphans_delete(*, batch_size: int = DEFAULT_BATCH_SIZE) -> Counter:
    """Delete orphaned history rows in id order, `batch_size` per transaction; rows deleted per link."""
    deleted: Counter = Counter()
    for model, field in history_parent_links():
        orphans = history_orphans(model=model, field=field).order_by("pk")
        last_pk = None
        while True:
            with transaction.atomic():
                batch = orphans if last_pk is None else orphans.filter(pk__gt=last_pk)
                pks = list(batch.values_list("pk", flat=True)[:batch_size])
                if not pks:
                    break
                # Re-checked in the statement itself; nothing references these rows (leaves).
                rows = orphans.filter(pk__in=pks)
                deleted[f"{model._meta.label}.{field.name}"] += rows._raw_delete(rows.db)
            last_pk = pks[-1]
    return deleted
