"""Intercom's search query DSL → a Django Q, with Intercom's limits and field-naming errors.

The one query language of contact filters: the REST API's searches and the saved segments (segments app)
both compile through it, so a segment holds exactly what `POST /contacts/search` accepts.

A query is one filter `{"field", "operator", "value"}` or a group `{"operator": "AND"|"OR",
"value": [query, ...]}`. Groups nest at most MAX_NESTING levels below the top one and hold at most
MAX_FILTERS_PER_GROUP entries, as Intercom documents. A whole query holds at most MAX_QUERY_FILTERS filters and
MAX_QUERY_VALUES values (an IN or NIN list counts each of its values; `segment_id` counts the filters and values of
the segments it names): the caps under which every query runs as one SQL statement on SQLite (at most 32,766
variables, expressions at most 1,000 deep; a group's filters join its parent's when they share its AND or OR, so
a query's filters can form one chain, counted again in each subquery around it) and PostgreSQL (65,535
parameters). An IN or NIN compared one value at a
time is a balanced tree (any_of), so its depth does not grow with the list.

A tag filter (`tag_id = 5`, `!=`, `IN`, `NIN`, `= null` for no tag, `!= null`) reads all of a row's tags: each
condition is a subquery of the tag links, never a join of the query (one join shared by two filters asked one link
to be both tags), so no row comes out twice. A group folds its tag filters first (_tags_folded): carrying A or B is
one EXISTS of A or B, lacking A and lacking B one NOT EXISTS, carrying A and B one count of the row's links among
them. PostgreSQL turns the subqueries of the top-level AND into joins, and 200 of them took its planner minutes
(attacker review): with the other fields that read other rows (segment_id, companies.*), each one correlated
EXISTS, that AND gives it at most MAX_JOINED_SUBQUERIES joins and checks the rest row by row. Nothing is a NOT IN
either, which PostgreSQL evaluates by rescanning the links for each row once they outgrow work_mem (366 s at 659k
links).

Date fields take Unix seconds, or a moment relative to when the query runs (`"now-30d"`, `"today"`,
`"now+2w"`: common.parsing.relative_moment_or_none) compared with `>` or `<`, so a saved filter "seen in the
last 30 days" moves with the days. A string, as Intercom's SDKs type every filter value.
"""

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import reduce
from operator import and_, or_
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Lower
from django.db.models.lookups import Contains, EndsWith, Exact, GreaterThan, In, LessThan, StartsWith
from django.utils import timezone

from common.parsing import (
    bool_or_none,
    finite_number_or_none,
    relative_moment_or_none,
    text_problem,
    unix_time_or_none,
)
from contacts.models import Contact, DataAttribute

# Intercom's contacts are users and leads; Parley's anonymous visitors are reachable by id only.
LISTED_ROLES = [Contact.Role.USER, Contact.Role.LEAD]
MAX_NESTING = 2
MAX_FILTERS_PER_GROUP = 15
MAX_IN_VALUES = 1000
# Per whole query. Parameters at both caps: about 2 per value (a custom attribute's path and value on SQLite, a
# lead's two roles) and 3 per filter, ~21,000 in all. Depth: the longest AND/OR chain is MAX_QUERY_FILTERS terms,
# and SQLite counts a chain again at each subquery level around it (a search naming a segment holds the segment's
# chain a subquery down, a tag filter an EXISTS below that): 200 filters stay under its 1,000 with room
# (tests/api/test_search_size_caps.py, both caps).
MAX_QUERY_FILTERS = 200
MAX_QUERY_VALUES = 10_000
# Subqueries of the top-level AND (tag filters once folded, segment_id, companies.*) PostgreSQL may turn into joins:
# its join search grows exponentially with them (a segment brings its own). The others are checked row by row
# (hashed, or an index probe). 100k contacts, four segments of four subqueries each: 29 ms to plan at 3, 285 at 4.
MAX_JOINED_SUBQUERIES = 3
# IN/NIN values a field can only compare one at a time (custom attributes, email domains: a JSON key or a suffix,
# no single SQL IN): each is its own expression with up to 4 parameters, evaluated per row. 10,000 of them took
# 20 s and 1 GB of a worker on 2,000 contacts (attacker review); 1,000 in a whole query stay bounded.
MAX_QUERY_VALUES_ONE_BY_ONE = 1_000
GROUP_OPERATORS = ("AND", "OR")
MAX_STRING_VALUE = 1000
OPERATORS = ("=", "!=", "IN", "NIN", ">", "<", "~", "!~", "^", "$")
STRING_OPERATORS = frozenset(OPERATORS)
NUMBER_OPERATORS = frozenset({"=", "!=", "IN", "NIN", ">", "<"})
BOOLEAN_OPERATORS = frozenset({"=", "!="})
DATE_KINDS = frozenset({"date", "json_date", "json_datetime"})
# A relative moment is a range's edge: "seen in the last 30 days" is `> now-30d`, never an exact second.
RELATIVE_OPERATORS = frozenset({">", "<"})
DATE_VALUE_HELP = "a Unix timestamp in seconds, or a relative moment compared with > or < (now-30d, today, now+2w)"

# Case-insensitive fields compare lower(field) with the lowered value: their indexes are on lower().
_CI_LOOKUPS = {
    "=": Exact, "!=": Exact, ">": GreaterThan, "<": LessThan, "~": Contains, "!~": Contains,
    "^": StartsWith, "$": EndsWith, "!$": EndsWith,
}  # fmt: skip


def _invalid(field: str, message: str) -> ValidationError:
    """A refusal naming the field (the API answers it as Intercom's parameter_invalid)."""
    return ValidationError({field: message})


@dataclass(frozen=True)
class QuerySize:
    """How many filters and values a query holds (what its SQL statement grows with)."""

    filters: int = 0
    values: int = 0
    one_by_one: int = 0  # IN/NIN values of fields compared one at a time (MAX_QUERY_VALUES_ONE_BY_ONE)

    def __add__(self, other: "QuerySize") -> "QuerySize":
        return QuerySize(self.filters + other.filters, self.values + other.values, self.one_by_one + other.one_by_one)

    def within_caps(self) -> bool:
        return self.problem() is None

    def problem(self) -> str | None:
        """Why a query this size is refused (naming `query`), or None."""
        if self.filters > MAX_QUERY_FILTERS or self.values > MAX_QUERY_VALUES:
            return QUERY_TOO_LARGE
        if self.one_by_one > MAX_QUERY_VALUES_ONE_BY_ONE:
            return ONE_BY_ONE_TOO_MANY
        return None


QUERY_TOO_LARGE = (
    f"A query holds at most {MAX_QUERY_FILTERS} filters and {MAX_QUERY_VALUES:,} values in all (each value of an "
    "IN or NIN list counts, and so do the filters and values of the segments segment_id names)."
)


ONE_BY_ONE_TOO_MANY = (
    f"IN and NIN lists on custom attributes and email_domain hold at most {MAX_QUERY_VALUES_ONE_BY_ONE:,} values "
    "in a whole query (each is compared on its own); use fewer values, or a tag or a segment."
)


def _compared_one_by_one(field: Any) -> bool:
    """A field whose IN/NIN has no single SQL IN (a JSON key, an email's suffix): each value is its own comparison."""
    return isinstance(field, str) and (field.startswith("custom_attributes.") or field == "email_domain")


def query_size(query: Any) -> QuerySize:
    """The filters and values of a query, however malformed (walked without recursion, before it is checked): a
    filter counts one value, or each value of its list; the values of lists compared one at a time count again
    in `one_by_one`."""
    filters = values = one_by_one = 0
    stack = [query]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        value = node.get("value")
        if node.get("operator") in GROUP_OPERATORS:
            if isinstance(value, list):
                stack.extend(value)
            continue
        filters += 1
        values += len(value) if isinstance(value, list) else 1
        if (
            isinstance(value, list)
            and node.get("operator") in ("IN", "NIN")
            and _compared_one_by_one(node.get("field"))
        ):
            one_by_one += len(value)
    return QuerySize(filters, values, one_by_one)


def one_term(condition: Q) -> Q:
    """A condition as one term of its parent's AND or OR: Django would otherwise join an OR into a parent OR (an
    AND into an AND) as one flat list, which SQLite parses as deep as it is long. Only for conditions on the row's
    own columns (wrapped, a condition through a multi-valued relation would not be negated as a subquery)."""
    return Q(ExpressionWrapper(condition, output_field=BooleanField()))


def any_of(conditions: list[Q]) -> Q:
    """OR as a balanced tree of single terms (see one_term): as deep as the log of its length, one term itself."""
    if len(conditions) == 1:
        return one_term(conditions[0])
    middle = len(conditions) // 2
    return one_term(any_of(conditions[:middle]) | any_of(conditions[middle:]))


def _joins_parent(node: Any, operator: str) -> bool:
    """Whether a group's entry is a group whose entries are its own: it shares the parent's AND or OR, or it holds
    one entry (checked as a group when its entries are read)."""
    if not isinstance(node, dict) or node.get("operator") not in GROUP_OPERATORS:
        return False
    children = node.get("value")
    return node["operator"] == operator or (isinstance(children, list) and len(children) == 1)


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # string | ci_string | integer | boolean | date | role | tag
    path: str  # a model field path; for json_* kinds the custom attribute's name (one key)
    model: Any = None  # tag: the model whose many-to-many field `path` is


@dataclass(frozen=True)
class TagFilter:
    """A tag filter as its group receives it, folded there with the group's other tag filters (_tags_folded): the
    rows carrying one of `tag_ids` (any tag: None) or, negated, none of them."""

    spec: FieldSpec
    tag_ids: frozenset[int] | None
    negated: bool = False

    def __invert__(self) -> "TagFilter":
        return replace(self, negated=not self.negated)


@dataclass(frozen=True)
class AllTags:
    """The rows carrying every one of two or more tags (a group's tag filters joined by AND, _all_of)."""

    spec: FieldSpec
    tag_ids: tuple[int, ...]


# What a filter or a group compiles to before the query's end: a condition, or tag filters its group may fold.
Compiled = Q | TagFilter | AllTags


def _tag_links(spec: FieldSpec, tag_ids: Collection[int] | None) -> tuple[QuerySet[Any], str, str]:
    """The link rows of a tag field (contact, company or conversation to tag) for these tags (all: None), and the
    names of their fields pointing at the tagged row and at the tag."""
    field = spec.model._meta.get_field(spec.path)
    tagged, tag = field.m2m_field_name(), field.m2m_reverse_field_name()
    links = field.remote_field.through._base_manager.all()
    if tag_ids is not None:
        links = links.filter(**{f"{tag}__in": sorted(tag_ids)})
    return links, tagged, tag


def _as_q(condition: Compiled, *, joined: bool | None = None) -> Q:
    """A condition as SQL. Tag filters read the row's own links only: `[NOT] EXISTS (its links to these tags)`,
    or a count of them for AllTags. `joined`, in the query's top-level AND: whether PostgreSQL may join the
    condition's subquery (_within_join_budget); beyond the budget it is checked row by row."""
    if isinstance(condition, AllTags):
        return _carrying_all(condition, joined=bool(joined))
    if isinstance(condition, TagFilter):
        links, tagged, _ = _tag_links(condition.spec, condition.tag_ids)
        carrying = Q(Exists(links.filter(**{tagged: OuterRef("pk")})))
        condition = ~carrying if condition.negated else carrying
    return _unjoined(condition) if joined is False else condition


def _carrying_all(condition: AllTags, *, joined: bool) -> Q:
    """The rows carrying every one of these tags, counted on their links to them (a row links a tag once; the
    count reads the (row, tag) unique index alone). Joined, an `IN` PostgreSQL joins as one aggregated relation;
    else a correlated EXISTS, which it never hashes: an `IN` it does not join is hashed or, once too large for
    work_mem, rescanned for every row."""
    links, tagged, tag = _tag_links(condition.spec, condition.tag_ids)
    counted = links.values(tagged).annotate(carried=Count(tag)).filter(carried=len(condition.tag_ids))
    if joined:
        return Q(pk__in=counted.values(tagged))
    return Q(Exists(counted.filter(**{tagged: OuterRef("pk")})))


def _unjoined(condition: Q) -> Q:
    """The condition as one PostgreSQL evaluates for each row (hashed, or an index probe) instead of pulling its
    subquery up into a join: it does not look inside a CASE."""
    return Q(Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()))


def _union(tag_ids: list[frozenset[int] | None]) -> frozenset[int] | None:
    """The tags of all these sets; any tag (None) if one is."""
    return None if None in tag_ids else frozenset(tag for tags in tag_ids if tags is not None for tag in tags)


def _implied_dropped(tag_ids: list[frozenset[int] | None]) -> list[frozenset[int] | None]:
    """Sets of tags to carry one of each, without those another implies: any tag (None) beside a set, a set
    holding a smaller one, duplicates; in a fixed order."""
    sets = {s for s in tag_ids if s is not None}
    if not sets:
        return [None]
    return sorted((s for s in sets if not any(other < s for other in sets)), key=lambda s: (len(s), sorted(s)))


def _all_of(spec: FieldSpec, tag_ids: list[frozenset[int] | None]) -> list[Compiled]:
    """The rows carrying one tag of each set: the single tags counted together, each wider set (an IN list) its
    own EXISTS."""
    sets = _implied_dropped(tag_ids)
    if len(sets) == 1:
        return [TagFilter(spec, sets[0])]
    singles = tuple(sorted(tag for s in sets if s is not None and len(s) == 1 for tag in s))
    conditions: list[Compiled] = []
    if len(singles) == 1:
        conditions.append(TagFilter(spec, frozenset(singles)))
    elif singles:
        conditions.append(AllTags(spec, singles))
    return conditions + [TagFilter(spec, s) for s in sets if s is not None and len(s) > 1]


def _tags_folded(filters: list[TagFilter], operator: str) -> list[Compiled]:
    """One group's filters on one tag field as at most one condition carrying and one lacking (a few more for
    IN lists joined by AND): the subqueries a query holds do not grow with its tag filters."""
    spec = filters[0].spec
    carried = [f.tag_ids for f in filters if not f.negated]
    lacked = [f.tag_ids for f in filters if f.negated]
    if operator == "OR":
        # Carrying A or B is carrying one of {A, B}; lacking A or lacking B is not carrying both.
        folded: list[Compiled] = [TagFilter(spec, _union(carried))] if carried else []
        if lacked:
            both = _all_of(spec, lacked)
            only = both[0] if len(both) == 1 else None
            folded.append(~only if isinstance(only, TagFilter) else ~reduce(and_, [_as_q(c) for c in both]))
        return folded
    # Lacking A and lacking B is carrying none of {A, B}; carrying first, which few rows pass (checked row by row
    # under an OR, the AND stops there).
    folded = _all_of(spec, carried) if carried else []
    return folded + ([TagFilter(spec, _union(lacked), negated=True)] if lacked else [])


def _within_join_budget(subqueries: list[Compiled]) -> list[Q]:
    """The subquery conditions of the query's top-level AND (tag filters, extra fields), the first
    MAX_JOINED_SUBQUERIES as PostgreSQL may join them, the others checked row by row: its join search grows
    exponentially with the joins (200 took it minutes, attacker review)."""
    return [_as_q(condition, joined=i < MAX_JOINED_SUBQUERIES) for i, condition in enumerate(subqueries)]


CONTACT_FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("integer", "pk"),
    "role": FieldSpec("role", "role"),
    "external_id": FieldSpec("string", "external_id"),
    "email": FieldSpec("ci_string", "email"),
    "email_domain": FieldSpec("email_domain", "email"),
    "name": FieldSpec("ci_string", "name"),
    "phone": FieldSpec("string", "phone"),
    "owner_id": FieldSpec("integer", "owner_id"),
    "language_override": FieldSpec("string", "language_override"),
    "browser": FieldSpec("string", "browser"),
    "browser_version": FieldSpec("string", "browser_version"),
    "browser_language": FieldSpec("string", "browser_language"),
    "os": FieldSpec("string", "os"),
    "location.country": FieldSpec("string", "country_name"),
    "location.country_code": FieldSpec("string", "country"),
    "location.city": FieldSpec("string", "city"),
    "unsubscribed_from_emails": FieldSpec("boolean", "unsubscribed_from_emails"),
    "archived": FieldSpec("boolean", "is_archived"),
    "created_at": FieldSpec("date", "created_at"),
    "updated_at": FieldSpec("date", "updated_at"),
    "signed_up_at": FieldSpec("date", "signed_up_at"),
    "last_seen_at": FieldSpec("date", "last_seen_at"),
    "last_contacted_at": FieldSpec("date", "last_contacted_at"),
    "last_replied_at": FieldSpec("date", "last_replied_at"),
    "last_email_opened_at": FieldSpec("date", "last_email_opened_at"),
    "last_email_clicked_at": FieldSpec("date", "last_email_clicked_at"),
    "tag_id": FieldSpec("tag", "tags", Contact),
}

_CUSTOM_KIND = {
    DataAttribute.DataType.STRING: "json_string",
    DataAttribute.DataType.INTEGER: "json_number",
    DataAttribute.DataType.FLOAT: "json_number",
    DataAttribute.DataType.BOOLEAN: "json_boolean",
    DataAttribute.DataType.DATE: "json_date",
    DataAttribute.DataType.DATETIME: "json_datetime",
}


class ExtraField(Protocol):
    """A field an app above contacts adds to the language, compiled by that app: registered for every search
    (companies: `companies.id`, `companies.name`), or passed by one caller (segments: `segment_id`)."""

    def condition(self, operator: str, value: Any) -> Q:
        """The filter's condition, or a ValidationError naming the field: a correlated [NOT] EXISTS when it reads
        other rows, never a `pk IN`, which PostgreSQL hashes or, past work_mem, rescans for every row."""
        ...  # pragma: no cover

    def includes_archived(self) -> bool:
        """Once compiled: whether what the filters named may hold archived contacts (so the query does too)."""
        ...  # pragma: no cover

    def carried_size(self) -> QuerySize:
        """Once compiled: the filters and values its conditions carry beyond their own (segments' queries)."""
        ...  # pragma: no cover


class QueryCompiler:
    """Compile one search body for one model's field table; custom attributes resolve lazily. Relative moments
    are read against one `now`, taken when the compiler is made (each search, each use of a segment)."""

    def __init__(self, fields: dict[str, FieldSpec], *, custom_model: str | None = None,
                 field_resolver: Callable[[str], FieldSpec | None] | None = None,
                 extra_fields: Mapping[str, ExtraField] | None = None) -> None:  # fmt: skip
        self.fields = fields
        self.custom_model = custom_model
        self.field_resolver = field_resolver
        self.extra_fields = extra_fields or {}
        self.now = timezone.now()
        self._custom: dict[str, DataAttribute] | None = None

    def compile(self, query: Any) -> Q:
        """The query as one condition; a refusal names the field, or `query` when it is over the size caps."""
        size = query_size(query)
        if size.problem():  # before any work: a body under the byte limit may hold millions of values
            raise _invalid("query", size.problem())
        condition = _as_q(self._node(query, depth=0, where="query", top=True))
        for extra in self.extra_fields.values():
            size += extra.carried_size()
        if size.problem():
            raise _invalid("query", size.problem())
        return condition

    def _node(self, node: Any, *, depth: int, where: str, top: bool = False) -> Compiled:
        """A filter or a group; `top`: it stands in the query's top-level AND (where PostgreSQL joins subqueries)."""
        if not isinstance(node, dict):
            raise _invalid(where, "Each query must be an object with field/operator/value or operator/value.")
        operator = node.get("operator")
        if operator in GROUP_OPERATORS:
            return self._group(node, depth=depth, where=where, top=top)
        return self._filter(node, where=where)

    def _group(self, node: dict[str, Any], *, depth: int, where: str, top: bool) -> Compiled:
        operator = node["operator"]
        entries = self._entries(node, depth=depth, where=where, operator=operator)
        # An AND's entries stand where it stands; an OR's stand under it, unless it holds one.
        entry_top = top and (operator == "AND" or len(entries) == 1)
        joins = entry_top and operator == "AND"  # the query's top-level AND, whose subqueries PostgreSQL joins
        tag_filters: dict[FieldSpec, list[TagFilter]] = {}
        conditions: list[Compiled] = []
        subqueries: list[Compiled] = []
        for entry, entry_depth, entry_where in entries:
            member = self._node(entry, depth=entry_depth, where=entry_where, top=entry_top)
            if isinstance(member, TagFilter):
                tag_filters.setdefault(member.spec, []).append(member)
            elif joins and isinstance(entry, dict) and entry.get("field") in self.extra_fields:
                subqueries.append(member)
            else:
                conditions.append(member)
        folded = [condition for filters in tag_filters.values() for condition in _tags_folded(filters, operator)]
        conditions += _within_join_budget(folded + subqueries) if joins else folded + subqueries
        if len(conditions) == 1 and not isinstance(conditions[0], AllTags):
            return conditions[0]  # a tag filter its parent group may fold in turn
        return reduce(and_ if operator == "AND" else or_, [_as_q(condition) for condition in conditions])

    def _entries(self, node: dict[str, Any], *, depth: int, where: str, operator: str) -> list[tuple[Any, int, str]]:
        """A group's entries (with their depth and place), those of an entry group sharing its operator, or holding
        one entry, in their place: all the tag filters of an AND or an OR, however nested, fold together, and a
        top-level AND stays one."""
        if depth > MAX_NESTING:
            raise _invalid(where, f"Queries can nest AND/OR groups at most {MAX_NESTING} levels deep.")
        children = node.get("value")
        if not isinstance(children, list) or not children:
            raise _invalid(f"{where}.value", "An AND/OR group needs a non-empty list of queries.")
        if len(children) > MAX_FILTERS_PER_GROUP:
            raise _invalid(f"{where}.value", f"A group can hold at most {MAX_FILTERS_PER_GROUP} queries.")
        entries: list[tuple[Any, int, str]] = []
        for i, child in enumerate(children):
            child_where = f"{where}.value[{i}]"
            if _joins_parent(child, operator):
                entries += self._entries(child, depth=depth + 1, where=child_where, operator=operator)
            else:
                entries.append((child, depth + 1, child_where))
        return entries

    def _spec(self, field: Any, where: str) -> FieldSpec:
        if not isinstance(field, str) or not field:
            raise _invalid(f"{where}.field", "field is required.")
        if field in self.fields:
            return self.fields[field]
        if self.field_resolver and (spec := self.field_resolver(field)):
            return spec
        if field.startswith("custom_attributes.") and self.custom_model:
            name = field.removeprefix("custom_attributes.")
            attribute = self._custom_attributes().get(name)
            if attribute is not None:
                return FieldSpec(_CUSTOM_KIND[attribute.data_type], name)
        raise _invalid(field, f"{field} is not a field you can search on.")

    def _custom_attributes(self) -> dict[str, DataAttribute]:
        if self._custom is None:
            self._custom = {a.name: a for a in DataAttribute.objects.filter(model=self.custom_model)}
        return self._custom

    def _filter(self, node: dict[str, Any], *, where: str) -> Compiled:
        field = node.get("field")
        if isinstance(field, str) and field in self.extra_fields:
            operator, value = self._operator_and_value(node, field)
            return self.extra_fields[field].condition(operator, value)
        spec = self._spec(field, where)
        field = node["field"]
        operator, value = self._operator_and_value(node, field)
        if operator in ("IN", "NIN"):
            if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
                raise _invalid(field, f"IN and NIN need a list of 1 to {MAX_IN_VALUES} values.")
            values = [self._value(spec, field, item, operator=operator) for item in value]
            # Fields with no single SQL IN compare each value (query_size caps how many: _compared_one_by_one).
            condition = self._one_of(spec, values) or any_of([self._compare(spec, field, "=", v) for v in values])
            return condition if operator == "IN" else ~condition
        if isinstance(value, list):
            raise _invalid(field, f"A list value needs the IN or NIN operator, not {operator}.")
        if value is None:
            if operator not in ("=", "!="):
                raise _invalid(field, "null can only be compared with = or !=.")
            condition = self._null(spec)
            return condition if operator == "=" else ~condition
        return self._compare(spec, field, operator, self._value(spec, field, value, operator=operator))

    @staticmethod
    def _one_of(spec: FieldSpec, values: list[Any]) -> Compiled | None:
        """IN as one SQL `IN (…)` where `=` is a plain comparison: a chain of 1,000 ORs is deeper than SQLite
        parses (its expression depth limit is 1,000) and slower everywhere. None: compare one by one."""
        if spec.kind == "tag":
            return TagFilter(spec, frozenset(values))
        if spec.kind in ("string", "integer", "boolean", "date"):
            return Q(**{f"{spec.path}__in": values})
        if spec.kind == "ci_string":
            return Q(In(Lower(spec.path), [value.lower() for value in values]))
        if spec.kind == "role":  # a lead is Parley's lead or visitor, as `role = lead` says (_compare)
            roles = {*values, *([Contact.Role.VISITOR] if Contact.Role.LEAD in values else [])}
            return Q(**{f"{spec.path}__in": sorted(roles)})
        return None

    @staticmethod
    def _operator_and_value(node: dict[str, Any], field: str) -> tuple[str, Any]:
        operator = node.get("operator")
        if operator not in OPERATORS:
            raise _invalid(field, f"operator must be one of {', '.join(OPERATORS)}.")
        if "value" not in node:
            raise _invalid(field, "value is required.")
        return operator, node["value"]

    def _null(self, spec: FieldSpec) -> Compiled:
        # One term each, so that every filter adds one to an AND/OR chain (the chain MAX_QUERY_FILTERS bounds).
        if spec.kind in ("string", "ci_string", "email_domain"):
            return any_of([Q(**{spec.path: ""}), Q(**{f"{spec.path}__isnull": True})])
        if spec.kind == "tag":
            return TagFilter(spec, None, negated=True)  # no tag at all
        if spec.kind.startswith("json_"):
            return any_of([~Q(custom_attributes__has_key=spec.path), _key_lookup(spec.path, "isnull", True)])
        return Q(**{f"{spec.path}__isnull": True})

    def _value(self, spec: FieldSpec, field: str, value: Any, *, operator: str) -> Any:
        kind = spec.kind
        if kind in ("string", "ci_string", "email_domain", "json_string", "role"):
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise _invalid(field, f"{field} must be compared with a string.")
            value = str(value)
            if len(value) > MAX_STRING_VALUE:
                raise _invalid(field, f"Values are at most {MAX_STRING_VALUE} characters.")
            if problem := text_problem(value):  # PostgreSQL refuses to compare text holding a NUL or a lone surrogate
                raise _invalid(field, problem)
            if kind == "role" and value not in Contact.Role.values:
                raise _invalid(field, "role must be user or lead.")
            return value
        if kind in ("boolean", "json_boolean"):
            boolean = bool_or_none(value)
            if boolean is None:
                raise _invalid(field, f"{field} must be compared with true or false.")
            return boolean
        if kind in ("integer", "tag", "json_number"):
            number = self._number(value, integer=kind != "json_number")
            if number is None:
                raise _invalid(field, f"{field} must be compared with a number.")
            return number
        if kind in DATE_KINDS:
            relative = relative_moment_or_none(value)
            if relative is not None and operator not in RELATIVE_OPERATORS:
                raise _invalid(field, f"A relative moment ({value}) is compared with > or <, not {operator}.")
            moment = relative.at(self.now) if relative is not None else unix_time_or_none(value)
            if moment is None:
                raise _invalid(field, f"{field} must be compared with {DATE_VALUE_HELP}.")
            moment = moment.replace(microsecond=0)
            if kind == "json_date":
                return moment.date().isoformat()
            return moment.isoformat() if kind == "json_datetime" else moment
        raise _invalid(field, f"{field} cannot be searched.")  # pragma: no cover

    @staticmethod
    def _number(value: Any, *, integer: bool) -> int | float | None:
        """A finite number (a JSON number or its text); an integer within PostgreSQL's bigint when asked."""
        if isinstance(value, float) and integer:
            value = int(value) if value.is_integer() else None
        return finite_number_or_none(value, integer=integer)

    def _compare(self, spec: FieldSpec, field: str, operator: str, value: Any) -> Compiled:
        kind, path = spec.kind, spec.path
        allowed = (
            STRING_OPERATORS
            if kind in ("string", "ci_string", "email_domain", "json_string")
            else BOOLEAN_OPERATORS
            if kind in ("boolean", "json_boolean", "role", "tag")  # a tag is carried or not: no order
            else NUMBER_OPERATORS
        )
        if operator not in allowed:
            raise _invalid(field, f"The {operator} operator does not apply to {field}.")
        if kind == "tag":
            return TagFilter(spec, frozenset([value]), negated=operator == "!=")
        if kind == "role" and value == Contact.Role.LEAD:
            # Intercom has no visitor role: a search for leads also finds Parley's visitors.
            condition = Q(role__in=[Contact.Role.LEAD, Contact.Role.VISITOR])
            return condition if operator == "=" else ~condition
        if kind in ("email_domain", "ci_string"):
            if kind == "email_domain":
                value = "@" + value
                operator = {"=": "$", "!=": "!$"}.get(operator, operator)
            condition = Q(_CI_LOOKUPS[operator](Lower(path), value.lower()))
            return ~condition if operator in ("!=", "!~", "!$") else condition
        if kind == "json_string" and operator in ("=", "!=") and connection.vendor == "postgresql":
            # Containment uses the GIN index on custom_attributes (PostgreSQL).
            condition = Q(custom_attributes__contains={path: value})
            return condition if operator == "=" else ~condition
        lookups = {
            "=": "exact", ">": "gt", "<": "lt", "~": "contains", "!~": "contains", "^": "startswith",
            "$": "endswith", "!$": "endswith", "!=": "exact",
        }  # fmt: skip
        if kind in ("string", "json_string") and operator in ("~", "!~", "^", "$"):
            lookups.update({"~": "icontains", "!~": "icontains", "^": "istartswith", "$": "iendswith"})
        if kind.startswith("json_"):
            condition = _key_lookup(path, lookups[operator], value)
        else:
            condition = Q(**{f"{path}__{lookups[operator]}": value})
        return ~condition if operator in ("!=", "!~", "!$") else condition


def _key_lookup(name: str, lookup: str, value: Any) -> Q:
    """A lookup on one custom attribute, its name one key: a stored "z__contains" is never read as a lookup."""
    # Typed lhs, so that the lookup prepares its value as JSON (as `custom_attributes__name=` would).
    column = ExpressionWrapper(F("custom_attributes"), output_field=JSONField())
    key = KeyTransform(name, column)
    return Q(key.get_lookup(lookup)(key, value))


# Fields apps above contacts add to every contact search, by name (companies: `companies.id`, `companies.name`):
# each makes its ExtraField for one query. Registered from the app's integration.connect().
_registered_fields: dict[str, Callable[[Any], ExtraField]] = {}


def register_contact_search_field(name: str, make_field: Callable[[Any], ExtraField]) -> None:
    """Add `name` to the contact search language (the API's searches and every contact segment), compiled by
    `make_field(query)`'s ExtraField; once per name."""
    _registered_fields.setdefault(name, make_field)


def contact_search_fields(query: Any, extra_fields: Mapping[str, ExtraField] | None = None) -> dict[str, ExtraField]:
    """The extra fields one contact search compiles with: the registered ones, then the caller's own."""
    return {name: make_field(query) for name, make_field in _registered_fields.items()} | dict(extra_fields or {})


def contact_search_q(query: Any, *, extra_fields: Mapping[str, ExtraField] | None = None) -> Q:
    """Compile a contact filter (with the registered fields and `extra_fields`); a ValidationError names the
    field it refuses."""
    return _contact_compiler(contact_search_fields(query, extra_fields)).compile(query)


def _contact_compiler(extra_fields: Mapping[str, ExtraField]) -> QueryCompiler:
    return QueryCompiler(CONTACT_FIELDS, custom_model=DataAttribute.Model.CONTACT, extra_fields=extra_fields)


def query_mentions_field(query: Any, field: str) -> bool:
    """Whether a search query names `field` anywhere (archived contacts are left out unless it does)."""
    if isinstance(query, dict):
        return query.get("field") == field or query_mentions_field(query.get("value"), field)
    if isinstance(query, list):
        return any(query_mentions_field(item, field) for item in query)
    return False


def query_filter_values(query: Any) -> Iterator[tuple[Any, Any]]:
    """(field, value) of each filter of a search query, one pair per value of a list, groups entered as the compiler
    enters them (an AND or OR node is a group whatever field it carries). Walked without recursion: a body not
    checked yet cannot exhaust the stack."""
    stack = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            value = node.get("value")
            if node.get("operator") in GROUP_OPERATORS:
                stack.append(value)
            else:
                for item in value if isinstance(value, list) else [value]:
                    yield node.get("field"), item


def query_tag_ids(query: Any) -> set[int]:
    """The tag ids a search query's `tag_id` filters name, each read as the compiler reads it (a number or its
    text, `7.0` as 7); a value the compiler would refuse names no tag."""
    ids = (
        QueryCompiler._number(value, integer=True) for field, value in query_filter_values(query) if field == "tag_id"
    )
    return {tag_id for tag_id in ids if isinstance(tag_id, int)}


VISITORS_LEFT_OUT = "visitors"
ARCHIVED_LEFT_OUT = "archived"


def contacts_left_out(query: Any) -> tuple[str, ...]:
    """Whom contacts_matching leaves out whatever the query's filters say, for the admin to tell: anonymous visitors
    (VISITORS_LEFT_OUT; not named when a top-level filter keeps users or leads only, so none could match) and
    archived contacts (ARCHIVED_LEFT_OUT) unless the query mentions `archived`."""
    top = query.get("value") if isinstance(query, dict) and query.get("operator") == "AND" else [query]
    one_role = any(
        isinstance(node, dict) and node.get("field") == "role" and node.get("operator") in ("=", "IN")
        for node in (top if isinstance(top, list) else [])
    )
    left_out = () if one_role else (VISITORS_LEFT_OUT,)
    return left_out if query_mentions_field(query, "archived") else (*left_out, ARCHIVED_LEFT_OUT)


def contacts_matching(
    query: Any,
    *,
    queryset: QuerySet[Contact] | None = None,
    extra_fields: Mapping[str, ExtraField] | None = None,
) -> QuerySet[Contact]:
    """The contacts a search query selects: users and leads (Intercom's contacts), archived ones only when
    the query mentions `archived` (itself, or in a segment it names through an extra field); one SQL query
    whatever the query's shape. Registered fields (register_contact_search_field) always join; `extra_fields` are
    those one caller adds (segments' segment_id, for the API's search)."""
    fields = contact_search_fields(query, extra_fields)
    condition = _contact_compiler(fields).compile(query)
    matching = (Contact.objects.all() if queryset is None else queryset).filter(role__in=LISTED_ROLES)
    extras_archived = any(extra.includes_archived() for extra in fields.values())
    if not (extras_archived or query_mentions_field(query, "archived")):
        matching = matching.filter(is_archived=False)
    return matching.filter(condition)  # no filter joins a relation: each contact comes once
