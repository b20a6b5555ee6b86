"""Routing: assignment rules (first match wins), team round robin, teammates' away mode and caps.

Rules run inside the transaction that creates or reopens a conversation (threads.py calls
`conversation_route`), so a conversation is never seen unrouted. Round robin locks the team's
`TeamRoundRobin` row (`SELECT … FOR UPDATE`) while it picks, so two conversations routed to the same
team at once are picked one after the other and never both go to the same teammate by a race.
"""

import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from common.row_locks import rows_hold
from contacts.models import Contact, Tag
from contacts.services import tag_hold, tags_hold
from conversations import selectors
from conversations.models import (
    AssignmentRule,
    Conversation,
    ConversationPart,
    Team,
    TeammateProfile,
    TeamRoundRobin,
)

PREVIEW_SAMPLE = 100
MAX_AWAY_REASON = 100


@dataclass(frozen=True)
class RoutingFacts:
    """What rules look at, read once per conversation."""

    website_id: int | None
    page_url: str
    language: str
    role: str
    contact_tag_ids: frozenset[int]
    message: str
    company_plans: frozenset[str] = field(default_factory=frozenset)


# --- matching -----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _url_pattern(pattern: str) -> re.Pattern[str]:
    # Only * is special (fnmatch without [] or ?): a teammate's pattern can never be a slow regex.
    escaped = pattern.replace("[", "[[]").replace("?", "[?]")
    return re.compile(fnmatch.translate(escaped), re.IGNORECASE | re.DOTALL)


def _words(text: str) -> list[str]:
    return [w.strip().casefold() for w in text.split(",") if w.strip()]


def rule_matches(rule: AssignmentRule, facts: RoutingFacts) -> bool:
    """Whether every condition the rule sets holds for these facts (no query)."""
    if rule.website_id is not None and rule.website_id != facts.website_id:
        return False
    if rule.page_url_prefix and not facts.page_url.casefold().startswith(rule.page_url_prefix.casefold()):
        return False
    if rule.page_url_pattern and not _url_pattern(rule.page_url_pattern).fullmatch(facts.page_url):
        return False
    if rule.language:
        wanted, have = rule.language.casefold(), facts.language.casefold().replace("_", "-")
        if have != wanted and not have.startswith(wanted + "-"):
            return False
    if rule.contact_role and rule.contact_role != facts.role:
        return False
    if rule.contact_tag_id is not None and rule.contact_tag_id not in facts.contact_tag_ids:
        return False
    if rule.company_plan and rule.company_plan.strip().casefold() not in facts.company_plans:
        return False
    if rule.message_contains:
        message = facts.message.casefold()
        if not any(word in message for word in _words(rule.message_contains)):
            return False
    return True


def routing_facts(*, conversation: Conversation, message: str, contact: Contact | None = None) -> RoutingFacts:
    """The facts of a conversation for the rules: two queries (the contact's tags, its companies' plans)."""
    contact = contact or conversation.contact
    return RoutingFacts(
        website_id=conversation.website_id,
        page_url=conversation.started_on_url,
        language=contact.language,
        role=contact.role,
        contact_tag_ids=frozenset(contact.tags.values_list("pk", flat=True)),
        message=message,
        company_plans=_company_plans(contact),
    )


def _company_plans(contact: Contact) -> frozenset[str]:
    """The plans of the contact's companies (empty until the companies app is installed)."""
    companies = getattr(contact, "companies", None)
    if companies is None:
        return frozenset()
    return frozenset(p.casefold() for p in companies.exclude(plan="").values_list("plan", flat=True))


def rules_enabled() -> list[AssignmentRule]:
    """The enabled rules in the order they run (one query)."""
    return list(AssignmentRule.objects.filter(enabled=True).order_by("position", "id"))


def rule_first_match(*, rules: list[AssignmentRule], facts: RoutingFacts) -> AssignmentRule | None:
    """The first rule whose conditions hold, or None."""
    return next((rule for rule in rules if rule_matches(rule, facts)), None)


def rule_preview(*, rule: AssignmentRule, sample: int = PREVIEW_SAMPLE) -> tuple[int, int]:
    """(matched, looked at): how many of the last `sample` conversations started by contacts the rule matches.

    A fixed number of queries: the conversations with their contacts, their first messages, the contacts' tags
    and (with companies) their plans.
    """
    conversations = list(
        Conversation.objects.exclude(source=Conversation.Source.ADMIN)
        .select_related("contact")
        .order_by("-created_at", "-id")[:sample]
    )
    ids = [c.pk for c in conversations]
    first_messages: dict[int, str] = {}
    for conversation_id, body in (
        ConversationPart.objects.filter(
            conversation_id__in=ids, part_type=ConversationPart.Type.COMMENT, author_contact__isnull=False
        )
        .order_by("conversation_id", "created_at", "id")
        .values_list("conversation_id", "body")
    ):
        first_messages.setdefault(conversation_id, body)
    contact_ids = {c.contact_id for c in conversations}
    tags: dict[int, set[int]] = {}
    for contact_id, tag_id in Contact.tags.through.objects.filter(contact_id__in=contact_ids).values_list(
        "contact_id", "tag_id"
    ):
        tags.setdefault(contact_id, set()).add(tag_id)
    plans = _plans_by_contact(contact_ids)
    matched = 0
    for conversation in conversations:
        contact = conversation.contact
        facts = RoutingFacts(
            website_id=conversation.website_id,
            page_url=conversation.started_on_url,
            language=contact.language,
            role=contact.role,
            contact_tag_ids=frozenset(tags.get(contact.pk, ())),
            message=first_messages.get(conversation.pk, ""),
            company_plans=frozenset(plans.get(contact.pk, ())),
        )
        matched += rule_matches(rule, facts)
    return matched, len(conversations)


def _plans_by_contact(contact_ids: set[int]) -> dict[int, set[str]]:
    relation = getattr(Contact, "companies", None)
    if relation is None or not contact_ids:
        return {}
    through = relation.through
    plans: dict[int, set[str]] = {}
    rows = through.objects.filter(contact_id__in=contact_ids).exclude(company__plan="")
    for contact_id, plan in rows.values_list("contact_id", "company__plan"):
        plans.setdefault(contact_id, set()).add(plan.casefold())
    return plans


# --- teammates: away and caps ---------------------------------------------------------------------


def _profile(teammate: Any) -> TeammateProfile | None:
    try:
        return teammate.parley_profile
    except TeammateProfile.DoesNotExist:
        return None


def teammate_is_away(teammate: Any) -> bool:
    """Whether the teammate is in away mode (reads what select_related brought)."""
    profile = _profile(teammate)
    return bool(profile and profile.away_mode_enabled)


@transaction.atomic
def teammate_away_set(
    *, teammate: Any, away: bool, reassign: bool | None = None, reason: str | None = None
) -> TeammateProfile:
    """Switch a teammate's away mode (with an optional reason, and whether their replies are reassigned)."""
    if not isinstance(away, bool):
        raise ValidationError({"away_mode_enabled": "Must be true or false."})
    if reassign is not None and not isinstance(reassign, bool):
        raise ValidationError({"away_mode_reassign": "Must be true or false."})
    if reason is not None:
        if not isinstance(reason, str):
            raise ValidationError({"away_reason": "Must be a string."})
        reason = reason.replace("\x00", "").strip()
        if len(reason) > MAX_AWAY_REASON:
            raise ValidationError({"away_reason": f"Must be at most {MAX_AWAY_REASON} characters."})
    profile, _ = TeammateProfile.objects.select_for_update().get_or_create(teammate=teammate)
    profile.away_mode_enabled = away
    fields = ["away_mode_enabled"]
    if reassign is not None:
        profile.away_mode_reassign = reassign
        fields.append("away_mode_reassign")
    if reason is not None or not away:
        profile.away_reason = "" if not away else reason
        fields.append("away_reason")
    profile.save(update_fields=fields)
    return profile


@dataclass(frozen=True)
class Unavailable:
    """Who gets no new conversations: the teammates away, and those (not away) at their cap of open ones."""

    away: list[Any]
    at_cap: list[Any]


def teammates_unavailable() -> Unavailable:
    """The inbox's "Away: … · At their cap: …" line, in one query; each at-cap teammate has `open_count`."""
    open_count = (
        Conversation.objects.filter(assignee=OuterRef("pk"), state=Conversation.State.OPEN)
        .order_by()
        .values("assignee")
        .annotate(n=Count("id"))
        .values("n")
    )
    found = list(
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(parley_profile__away_mode_enabled=True)
            | Q(parley_profile__max_open_conversations__isnull=False)
            & Q(parley_profile__max_open_conversations__lte=Coalesce(Subquery(open_count), 0))
        )
        .annotate(open_count=Coalesce(Subquery(open_count), 0))
        .select_related("parley_profile")
        .order_by("username")
    )
    away = [teammate for teammate in found if teammate.parley_profile.away_mode_enabled]
    return Unavailable(away=away, at_cap=[teammate for teammate in found if teammate not in away])


# --- round robin ----------------------------------------------------------------------------------


def _open_counts(teammate_ids: list[int]) -> dict[int, int]:
    rows = (
        Conversation.objects.filter(assignee_id__in=teammate_ids, state=Conversation.State.OPEN)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    return dict(rows)


@transaction.atomic
def team_round_robin_pick(*, team: Team) -> Any | None:
    """The team's next teammate in turn, skipping away ones and those at their cap; None when nobody can take it.

    Holds the team's round-robin row locked until the caller's transaction commits, so concurrent picks
    for the same team are serialised and each sees the assignments made before it.
    """
    TeamRoundRobin.objects.get_or_create(team=team)
    pointer = TeamRoundRobin.objects.select_for_update().get(team=team)
    if not pointer.enabled:
        return None
    members = list(
        selectors.team_answerers(team)
        .filter(Q(parley_profile__isnull=True) | Q(parley_profile__away_mode_enabled=False))
        .select_related("parley_profile")
        .order_by("pk")
        .distinct()
    )
    capped = {
        m.pk: _profile(m).max_open_conversations
        for m in members
        if _profile(m) and _profile(m).max_open_conversations is not None
    }
    counts = _open_counts(list(capped)) if capped else {}
    eligible = [m for m in members if m.pk not in capped or counts.get(m.pk, 0) < capped[m.pk]]
    if not eligible:
        return None
    last = pointer.last_assignee_id or 0
    pick = next((m for m in eligible if m.pk > last), eligible[0])
    pointer.last_assignee = pick
    pointer.save(update_fields=["last_assignee"])
    return pick


def team_nobody_reason(*, team: Team) -> str:
    """Why the team's round robin picked nobody, in words for the thread ("everyone in Support is away or at
    their cap"); read only when it did."""
    if not TeamRoundRobin.objects.filter(team=team, enabled=True).exists():
        return f"round robin is off for {team.name}"
    if not selectors.team_has_answerer(team):
        return f"{team.name} has no teammate who can answer conversations"
    return f"everyone in {team.name} is away or at their cap"


# --- routing a conversation -----------------------------------------------------------------------


def _available(teammate: Any) -> bool:
    return bool(
        teammate
        and teammate.is_active
        and teammate.is_staff
        and not teammate_is_away(teammate)
        and selectors.teammate_answers(teammate)
    )


@transaction.atomic
def conversation_route(*, conversation: Conversation, message: str) -> AssignmentRule | None:
    """Run the assignment rules on a conversation being created or reopened; apply the first that matches.

    Its actions: tag, set priority, assign to its team and/or teammate (an away teammate is skipped: the
    team's round robin picks instead). No rule matching leaves the conversation as it is.
    """
    from conversations.services import threads

    rules = rules_enabled()
    if not rules:
        return None
    rule = rule_first_match(rules=rules, facts=routing_facts(conversation=conversation, message=message))
    if rule is None:
        return None
    # Held: a teammate may have taken the tag off the rule and deleted it since the rules were read (it is skipped).
    if rule.add_tag_id and tags_hold([rule.add_tag_id]):
        threads.conversation_tag(conversation=conversation, tag=Tag.objects.get(pk=rule.add_tag_id), teammate=None)
    if rule.set_priority and rule.set_priority != conversation.priority:
        Conversation.objects.filter(pk=conversation.pk).update(priority=rule.set_priority)
        conversation.priority = rule.set_priority
    # Held too, as the tag: the teammate or the team may have been deleted since the rules were read (then skipped).
    assignee = None
    if rule.assign_teammate_id and rows_hold(get_user_model(), [rule.assign_teammate_id]):
        teammate = get_user_model().objects.select_related("parley_profile").get(pk=rule.assign_teammate_id)
        assignee = teammate if _available(teammate) else None
    team = None
    if rule.assign_team_id and rows_hold(Team, [rule.assign_team_id]):
        team = Team.objects.get(pk=rule.assign_team_id)
    # The thread says which rule routed it, and why nobody was assigned when nobody was.
    reason = f"by the rule “{rule.name}”"
    if assignee is None and team is not None:
        assignee = team_round_robin_pick(team=team)
        reason += f": {team_nobody_reason(team=team)}" if assignee is None else ""
    if assignee is not None or team is not None:
        threads.conversation_assign(
            conversation=conversation, teammate=None, assignee=assignee, team=team, reason=reason
        )
        conversation.refresh_from_db(fields=["assignee", "team"])
    return rule


@transaction.atomic
def conversation_route_on_contact_message(
    *, conversation: Conversation, message: str, reopened: bool
) -> AssignmentRule | None:
    """A contact wrote in an existing conversation: route it again when it was reopened without an available
    assignee, or when its assignee is away and asked for their replies to be reassigned (then it is
    unassigned if no rule assigns it)."""
    assignee = conversation.assignee
    profile = _profile(assignee) if assignee is not None else None
    reassign = bool(profile and profile.away_mode_enabled and profile.away_mode_reassign)
    if not reassign and not (reopened and not _available(assignee)):
        return None
    rule = conversation_route(conversation=conversation, message=message)
    if reassign and conversation.assignee_id == assignee.pk:
        from conversations.services import threads

        threads.conversation_assign(conversation=conversation, teammate=None, assignee=None)
        conversation.assignee = None
    return rule


# --- managing rules ---------------------------------------------------------------------------------

RULE_TEXT_FIELDS = ("page_url_prefix", "page_url_pattern", "language", "company_plan", "message_contains")


def assignment_rule_validate(*, rule: AssignmentRule) -> None:
    """A rule needs at least one action; its texts hold no NUL; a language is a short code."""
    for name in RULE_TEXT_FIELDS:
        value = getattr(rule, name) or ""
        if "\x00" in value:
            raise ValidationError({name: "Must not contain NUL characters."})
        setattr(rule, name, value.strip())
    if rule.language and not re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*", rule.language):
        raise ValidationError({"language": "Use a language code such as fr or pt-BR."})
    if rule.page_url_pattern and "*" not in rule.page_url_pattern:
        raise ValidationError({"page_url_pattern": "Use * for the varying part, or use “page URL starts with”."})
    if rule.assign_teammate_id and not selectors.teammate_answers(rule.assign_teammate):
        raise ValidationError({"assign_teammate": selectors.not_answering(rule.assign_teammate)})
    if not (rule.assign_team_id or rule.assign_teammate_id or rule.add_tag_id or rule.set_priority):
        raise ValidationError({"assign_team": "Choose at least one action: a team, a teammate, a tag or a priority."})
    for name in ("contact_tag", "add_tag"):  # held until saved: a tag deleted meanwhile is refused here
        if getattr(rule, f"{name}_id") is not None:
            tag_hold(getattr(rule, name), field=name)


@transaction.atomic
def assignment_rule_save(*, rule: AssignmentRule) -> AssignmentRule:
    """Validate and save an assignment rule (new or changed)."""
    assignment_rule_validate(rule=rule)
    rule.save()
    return rule
