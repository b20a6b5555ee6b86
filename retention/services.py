"""Retention: expire stale visitors and apply the optional rules, in bounded, resumable batches.

Every batch is one transaction: it locks up to `batch_size` stale rows (`FOR UPDATE SKIP LOCKED`
on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers), re-checks the cutoff on the
locked rows, deletes them with their whole history through the generic set-based deleter, and
adds its counts to the RetentionRun row, all in one commit. So a killed run loses at most its
open batch (rolled back by the database, no orphans), the next run carries on, and two runs at
once split the work instead of doubling it. Runs record one RetentionRun each rather than one
privacy audit entry per expired visitor: the run is the audit trail of automatic deletion.
"""

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from common.metrics import RETENTION_ROWS_DELETED, RETENTION_RUNS
from contacts.deletion import contacts_delete_with_history, rows_delete_with_history
from contacts.models import Contact
from retention.models import RetentionPolicy, RetentionRun
from retention.selectors import retention_policy_get, retention_policy_remember
from tracking.models import Event, PageView
from tracking.page_view_buffer import page_views_flush_before_reading
from tracking.partitioning import month_start, months_add
from tracking.services.hot_path import contacts_forget, contacts_recently_active
from tracking.services.partitions import history_partitions_drop_before

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 50_000
# A running run that committed no batch for this long was killed; the next run marks it failed.
STALE_RUN_AFTER = dt.timedelta(minutes=15)
CONTACT_LABEL = Contact._meta.label
# Counted on the run for contacts kept because a PROTECT foreign key refers to them.
PROTECTED_LABEL = "kept: protected by a foreign key"
# "Keep page views N months": at most ten years (each month kept is a partition on PostgreSQL).
MAX_KEEP_MONTHS = 120


@dataclass
class BatchProgress:
    """What a progress display needs after each committed batch."""

    run: RetentionRun
    rule: str
    batch_counts: Counter
    rows_done: int
    rows_estimated: int | None


ProgressCallback = Callable[[BatchProgress], None]


@dataclass
class _RunState:
    run: RetentionRun
    dry_run: bool
    pause_seconds: float
    on_batch: ProgressCallback | None
    counts: Counter = field(default_factory=Counter)


def contacts_stale(*, role: str, cutoff: dt.datetime) -> models.QuerySet[Contact]:
    """Contacts of `role` last seen before `cutoff` (never seen: first seen, then created) who have
    not written since either: chat and email replies do not touch last seen. A restricted contact
    (GDPR Art. 18) is kept: restriction means storing the data without processing it, and the
    person asked for it precisely so that it is not deleted."""
    return (
        Contact._base_manager.filter(role=role, processing_restricted=False)
        .filter(
            Q(last_seen_at__lt=cutoff)
            | Q(last_seen_at__isnull=True, first_seen_at__lt=cutoff)
            | Q(last_seen_at__isnull=True, first_seen_at__isnull=True, created_at__lt=cutoff)
        )
        .exclude(last_replied_at__gte=cutoff)
    )


def _validate_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValidationError({"batch_size": f"Must be a whole number from 1 to {MAX_BATCH_SIZE}."})


@transaction.atomic
def retention_runs_reclaim_stalled(*, now: dt.datetime | None = None) -> list[str]:
    """Fail runs that stopped committing batches; return the kinds of the real ones among them to rerun."""
    now = now or timezone.now()
    kinds = set(_stalled_runs(now).filter(dry_run=False).values_list("kind", flat=True))
    retention_runs_mark_interrupted(now=now)
    return sorted(kinds)


def _stalled_runs(now: dt.datetime) -> models.QuerySet[RetentionRun]:
    silent_since = now - STALE_RUN_AFTER
    return RetentionRun.objects.filter(
        Q(heartbeat_at__lt=silent_since) | Q(heartbeat_at__isnull=True, started_at__lt=silent_since),
        status=RetentionRun.Status.RUNNING,
    )


@transaction.atomic
def retention_runs_mark_interrupted(*, now: dt.datetime | None = None) -> int:
    """Mark runs that stopped committing batches (killed worker, kill -9) as failed."""
    now = now or timezone.now()
    return _stalled_runs(now).update(
        status=RetentionRun.Status.FAILED,
        finished_at=now,
        error="Interrupted: no batch committed for a while (worker killed or database lost). "
        "Every committed batch is complete; the next run deletes what this one had not reached.",
    )


def _run_start(*, kind: str, dry_run: bool, trigger: str, cutoff: dt.datetime | None) -> RetentionRun:
    retention_runs_mark_interrupted()
    now = timezone.now()
    return RetentionRun.objects.create(
        kind=kind, dry_run=dry_run, trigger=trigger, cutoff=cutoff, status=RetentionRun.Status.RUNNING, heartbeat_at=now
    )


def _run_record_batch(state: _RunState, batch_counts: Counter) -> None:
    """Add a batch's counts to the run row (inside the batch's transaction when not a dry run)."""
    state.counts.update(batch_counts)
    run = state.run
    run.batches += 1
    run.contacts_deleted = state.counts.get(CONTACT_LABEL, 0)
    run.counts = dict(sorted(state.counts.items()))
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["batches", "contacts_deleted", "counts", "heartbeat_at"])


def _run_finish(state: _RunState, *, error: str = "") -> RetentionRun:
    run = state.run
    run.status = RetentionRun.Status.FAILED if error else RetentionRun.Status.DONE
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    RETENTION_RUNS.labels(kind=run.kind, status=run.status, dry_run=str(run.dry_run).lower()).inc()
    if not run.dry_run:
        for model, rows in state.counts.items():
            RETENTION_ROWS_DELETED.labels(model=model).inc(rows)
    return run


def _delete_in_batches(
    state: _RunState,
    *,
    rule: str,
    candidates: models.QuerySet,
    delete: Callable[[list[Any]], Counter],
    batch_size: int,
) -> int:
    """Lock, re-check and delete `candidates` batch by batch in pk order; returns rows of the root model.

    Keyset pagination (pk > last pk) keeps every batch's select cheap and lets a dry run, which
    rolls its deletes back, move forward too.
    """
    model = candidates.model
    label = model._meta.label
    estimated = candidates.count() if state.on_batch else None
    done = 0
    last_pk: Any = None
    while True:
        with transaction.atomic():
            batch = candidates.order_by("pk")
            if last_pk is not None:
                batch = batch.filter(pk__gt=last_pk)
            # Locked rows belong to a concurrent run or to a visitor pinging right now: skip both.
            pks = list(batch.select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch_size])
            if not pks:
                break
            batch_counts = delete(pks)
            if state.dry_run:
                transaction.set_rollback(True)
            else:
                _run_record_batch(state, batch_counts)
        if state.dry_run:
            _run_record_batch(state, batch_counts)
        last_pk = pks[-1]
        done += batch_counts.get(label, 0)
        if state.on_batch:
            state.on_batch(
                BatchProgress(
                    run=state.run, rule=rule, batch_counts=batch_counts, rows_done=done, rows_estimated=estimated
                )
            )
        if state.pause_seconds:
            time.sleep(state.pause_seconds)
    return done


def _expire_contacts(state: _RunState, *, rule: str, role: str, cutoff: dt.datetime, batch_size: int) -> int:
    def delete(pks: list[Any]) -> Counter:
        # Re-check the cutoff on the locked rows: whoever was seen since the select is kept.
        still_stale = list(contacts_stale(role=role, cutoff=cutoff).filter(pk__in=pks).values_list("pk", flat=True))
        # Seen in the last half hour (a hot-path entry): its newest rows may still be queued in the
        # ingest buffer, with a last_seen_at the database does not have yet. Kept.
        active = contacts_recently_active(still_stale) if still_stale else set()
        still_stale = [pk for pk in still_stale if pk not in active]
        if still_stale and not state.dry_run:
            expired = list(still_stale)
            transaction.on_commit(lambda: contacts_forget(expired), robust=True)
        try:
            with transaction.atomic():
                return contacts_delete_with_history(contact_ids=still_stale)
        except ValidationError:
            # A row protects some contact (on_delete=PROTECT): delete the others one by one and
            # keep that one, so a single protected visitor never blocks every later run.
            counts: Counter = Counter()
            for pk in still_stale:
                try:
                    with transaction.atomic():
                        counts.update(contacts_delete_with_history(contact_ids=[pk]))
                except ValidationError:
                    counts[PROTECTED_LABEL] += 1
            return counts

    return _delete_in_batches(
        state, rule=rule, candidates=contacts_stale(role=role, cutoff=cutoff), delete=delete, batch_size=batch_size
    )


def _run(
    *,
    kind: str,
    cutoff: dt.datetime | None,
    dry_run: bool,
    trigger: str,
    pause_seconds: float,
    on_batch: ProgressCallback | None,
    work: Callable[[_RunState], None],
) -> RetentionRun:
    run = _run_start(kind=kind, dry_run=dry_run, trigger=trigger, cutoff=cutoff)
    state = _RunState(run=run, dry_run=dry_run, pause_seconds=pause_seconds, on_batch=on_batch)
    try:
        work(state)
    except BaseException as error:  # also SoftTimeLimitExceeded and KeyboardInterrupt: record, then re-raise
        try:
            _run_finish(state, error=f"{type(error).__name__}: {error}"[:2000])
        except Exception:  # the database itself may be what failed; the next run marks this one
            logger.exception("Could not record the failure of retention run %s", run.pk)
        raise
    run = _run_finish(state)
    logger.info("Retention run %s (%s%s) done: %s", run.pk, kind, ", dry run" if dry_run else "", run.counts)
    return run


def visitors_expire(
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    trigger: str = "task",
    now: dt.datetime | None = None,
    pause_seconds: float = 0,
    on_batch: ProgressCallback | None = None,
) -> RetentionRun | None:
    """Delete visitors not seen for the policy's TTL with their whole history; None when disabled."""
    _validate_batch_size(batch_size)
    policy = retention_policy_get()
    if not policy.visitor_expiry_enabled:
        logger.info("Visitor expiry is disabled in the retention policy; nothing deleted.")
        return None
    cutoff = (now or timezone.now()) - dt.timedelta(days=policy.visitor_ttl_days)

    def work(state: _RunState) -> None:
        page_views_flush_before_reading()  # queued sightings reach last_seen_at before it is compared
        _expire_contacts(state, rule="visitors", role=Contact.Role.VISITOR, cutoff=cutoff, batch_size=batch_size)

    return _run(
        kind=RetentionRun.Kind.VISITORS,
        cutoff=cutoff,
        dry_run=dry_run,
        trigger=trigger,
        pause_seconds=pause_seconds,
        on_batch=on_batch,
        work=work,
    )


def _optional_model(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _apply_rules(state: _RunState, *, policy: RetentionPolicy, now: dt.datetime, batch_size: int) -> None:
    if policy.lead_ttl_days:
        cutoff = now - dt.timedelta(days=policy.lead_ttl_days)
        _expire_contacts(state, rule="leads", role=Contact.Role.LEAD, cutoff=cutoff, batch_size=batch_size)
    conversation = _optional_model("conversations.Conversation")
    if policy.closed_conversation_ttl_days and conversation is not None:
        cutoff = now - dt.timedelta(days=policy.closed_conversation_ttl_days)
        closed = conversation._base_manager.filter(state="closed", updated_at__lt=cutoff)

        def delete_conversations(pks: list[Any]) -> Counter:
            # Re-check: a conversation reopened or answered since the select is kept.
            kept = closed.filter(pk__in=pks).values_list("pk", flat=True)
            return rows_delete_with_history(model=conversation, pks=list(kept))

        _delete_in_batches(
            state, rule="closed conversations", candidates=closed, delete=delete_conversations, batch_size=batch_size
        )
    cutoff = _tracking_cutoff(policy, now)
    if cutoff is not None:
        for model in (PageView, Event):
            # Whole months first (a dropped partition on PostgreSQL), then the rows left before the
            # cutoff one by one: those of a day-based cutoff's month, the default partition's, or
            # every old row of a plain table (SQLite, or PostgreSQL before partition_tables).
            old = model._base_manager.filter(created_at__lt=cutoff)
            for start, end in _drop_whole_months(state, model=model, cutoff=cutoff):
                old = old.exclude(created_at__gte=start, created_at__lt=end)  # counted already (a dry run)

            def delete_rows(pks: list[Any], model: type[models.Model] = model) -> Counter:
                return rows_delete_with_history(model=model, pks=pks)

            _delete_in_batches(
                state, rule=model._meta.verbose_name_plural, candidates=old, delete=delete_rows, batch_size=batch_size
            )


def _tracking_cutoff(policy: RetentionPolicy, now: dt.datetime) -> dt.datetime | None:
    """Page views and events before this go: the TTL in days, or the months kept (whole months:
    the current one and `tracking_keep_months` before it). Only one is set (the policy's rule)."""
    cutoffs = []
    if policy.tracking_ttl_days:
        cutoffs.append(now - dt.timedelta(days=policy.tracking_ttl_days))
    if policy.tracking_keep_months:
        cutoffs.append(months_add(month_start(now), -policy.tracking_keep_months))
    return max(cutoffs) if cutoffs else None


def _drop_whole_months(
    state: _RunState, *, model: type[models.Model], cutoff: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Drop the monthly partitions entirely before `cutoff`, each recorded on the run in its own
    transaction (a dry run counts their rows and drops nothing); the months dropped."""
    rule = f"{model._meta.verbose_name_plural} (whole months)"
    done = 0

    def record(rows: int) -> None:
        nonlocal done
        batch_counts = Counter({model._meta.label: rows}) if rows else Counter()
        _run_record_batch(state, batch_counts)
        done += rows
        if state.on_batch:
            state.on_batch(
                BatchProgress(run=state.run, rule=rule, batch_counts=batch_counts, rows_done=done, rows_estimated=None)
            )

    return history_partitions_drop_before(model=model, cutoff=cutoff, dry_run=state.dry_run, on_drop=record)


def retention_rules_apply(
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    trigger: str = "task",
    now: dt.datetime | None = None,
    pause_seconds: float = 0,
    on_batch: ProgressCallback | None = None,
) -> RetentionRun | None:
    """Apply the optional rules switched on in the policy; None when none is."""
    _validate_batch_size(batch_size)
    policy = retention_policy_get()
    if not (
        policy.lead_ttl_days
        or policy.closed_conversation_ttl_days
        or policy.tracking_ttl_days
        or policy.tracking_keep_months
    ):
        logger.info("No optional retention rule is switched on; nothing deleted.")
        return None
    now = now or timezone.now()
    return _run(
        kind=RetentionRun.Kind.RULES,
        cutoff=None,
        dry_run=dry_run,
        trigger=trigger,
        pause_seconds=pause_seconds,
        on_batch=on_batch,
        work=lambda state: _apply_rules(state, policy=policy, now=now, batch_size=batch_size),
    )


POLICY_WRITABLE_FIELDS = (
    "visitor_expiry_enabled",
    "visitor_ttl_days",
    "closed_conversation_ttl_days",
    "tracking_ttl_days",
    "tracking_keep_months",
    "lead_ttl_days",
)


def retention_policy_validate(*, policy: RetentionPolicy, fields: dict[str, Any]) -> None:
    """Whether `fields` may be written onto `policy`: a TTL is at least one day, months kept from 1 to
    MAX_KEEP_MONTHS, and page views are kept by days or by months, not both (ValidationError naming the field)."""
    unknown = set(fields) - set(POLICY_WRITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be written." for name in sorted(unknown)})
    for name, value in fields.items():
        if name.endswith("_days") and value is not None and (not isinstance(value, int) or value < 1):
            raise ValidationError({name: "Must be a whole number of days, at least 1."})
        if (
            name.endswith("_months")
            and value is not None
            and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_KEEP_MONTHS)
        ):
            raise ValidationError({name: f"Must be a whole number of months, from 1 to {MAX_KEEP_MONTHS}."})
        if name == "visitor_ttl_days" and value is None:
            raise ValidationError(
                {name: "How many days a visitor may go unseen is required; switch the rule off instead."}
            )
    days = fields.get("tracking_ttl_days", policy.tracking_ttl_days)
    months = fields.get("tracking_keep_months", policy.tracking_keep_months)
    if days and months:
        field = "tracking_keep_months" if "tracking_keep_months" in fields else "tracking_ttl_days"
        raise ValidationError(
            {field: "Page views and events are kept by days or by whole months, not both: empty the other field."}
        )


@transaction.atomic
def retention_policy_update(*, actor: Any = None, **fields: Any) -> RetentionPolicy:
    """Change the policy's rules (retention_policy_validate says which values are allowed)."""
    policy = RetentionPolicy.objects.select_for_update().filter(pk=1).first() or RetentionPolicy(pk=1)
    retention_policy_validate(policy=policy, fields=fields)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.updated_by = actor
    policy.save()
    transaction.on_commit(lambda: retention_policy_remember(policy))
    return policy
