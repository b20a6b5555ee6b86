"""A segment's filter in words, for teammates: "Role is user · last seen within the last 30 days · tag VIP".

Read from the saved query itself (never from the list's parameters), so the words say exactly what was saved.
Tag names, company names (`companies.id`) and custom attribute labels are read in one query each, whatever the
number of filters; a tag or a company deleted since is named by its id.
"""

import datetime as dt
from typing import Any

from common.parsing import int_or_none, relative_moment_or_none, unix_time_or_none
from companies.search import COMPANIES_ID, COMPANIES_NAME
from companies.selectors import company_names
from contacts.models import DataAttribute, Tag
from contacts.search import ARCHIVED_LEFT_OUT, VISITORS_LEFT_OUT, contacts_left_out, query_filter_values
from segments.models import Segment

SEPARATOR = " · "
_LABELS = {
    Segment.PersonType.CONTACT: {
        "id": "id", "role": "role", "external_id": "user id", "email": "email", "email_domain": "email domain",
        "name": "name", "phone": "phone", "owner_id": "owner id", "language_override": "language override",
        "browser": "browser", "browser_version": "browser version", "browser_language": "browser language",
        "os": "OS", "location.country": "country", "location.country_code": "country", "location.city": "city",
        "unsubscribed_from_emails": "unsubscribed from emails", "archived": "archived", "created_at": "created",
        "updated_at": "updated", "signed_up_at": "signed up", "last_seen_at": "last seen",
        "last_contacted_at": "last contacted", "last_replied_at": "last heard from",
        "last_email_opened_at": "last opened an email", "last_email_clicked_at": "last clicked an email link",
        COMPANIES_ID: "company", COMPANIES_NAME: "company name",
    },
    Segment.PersonType.COMPANY: {
        "id": "id", "company_id": "company id", "name": "name", "plan": "plan", "size": "size",
        "website": "website", "industry": "industry", "monthly_spend": "monthly spend", "user_count": "people",
        "session_count": "sessions", "last_request_at": "last request", "remote_created_at": "created (your records)",
        "created_at": "created", "updated_at": "updated",
    },
}  # fmt: skip
_DATE_FIELDS = frozenset({
    "created_at", "updated_at", "signed_up_at", "last_seen_at", "last_contacted_at", "last_replied_at",
    "last_email_opened_at", "last_email_clicked_at", "last_request_at", "remote_created_at",
})  # fmt: skip
_FLAGS = frozenset({"unsubscribed_from_emails", "archived"})  # said as "archived" / "not archived"
_NEVER = {"last_seen_at": "never seen", "last_request_at": "no request yet"}
_UNITS = {"h": "hour", "d": "day", "w": "week"}
_COMPARISONS = {"=": "is", "!=": "is not", ">": "more than", "<": "less than", "~": "contains",
                "!~": "does not contain", "^": "starts with", "$": "ends with"}  # fmt: skip


def _amount(count: int, unit: str) -> str:
    return f"{count:,} {_UNITS[unit]}{'' if count == 1 else 's'}"


class _Words:
    def __init__(self, query: Any, person_type: str) -> None:
        self.labels = _LABELS.get(person_type, _LABELS[Segment.PersonType.CONTACT])
        model = (
            DataAttribute.Model.COMPANY if person_type == Segment.PersonType.COMPANY else DataAttribute.Model.CONTACT
        )
        fields = _fields(query)
        tag_ids = {_int(v) for f, v in fields if f == "tag_id"} - {None}
        self.tags = dict(Tag.objects.filter(pk__in=tag_ids).values_list("pk", "name")) if tag_ids else {}
        company_ids = {_int(v) for f, v in fields if f == COMPANIES_ID} - {None}
        self.companies = company_names(company_ids=company_ids)
        names = {f.removeprefix("custom_attributes.") for f, _ in fields if f.startswith("custom_attributes.")}
        self.attributes = (
            {a.name: a for a in DataAttribute.objects.filter(model=model, name__in=names)} if names else {}
        )

    def node(self, node: Any, *, top: bool = False) -> str:
        if not isinstance(node, dict):
            return str(node)
        if node.get("operator") in ("AND", "OR") and isinstance(node.get("value"), list):
            parts = [self.node(child) for child in node["value"]]
            if top and node["operator"] == "AND":
                return SEPARATOR.join(parts)
            joined = f" {node['operator'].lower()} ".join(parts)
            return joined if top else f"({joined})"
        return self.filter(str(node.get("field")), str(node.get("operator")), node.get("value"))

    def filter(self, field: str, operator: str, value: Any) -> str:
        if field == "tag_id":
            return self.tag(operator, value)
        label, kind = self.label(field)
        if operator in ("IN", "NIN") and isinstance(value, list):
            listed = ", ".join(self.value(kind, item) for item in value)
            return f"{label} is {'one' if operator == 'IN' else 'none'} of {listed}"
        if value is None:
            if operator == "=":
                return _NEVER.get(field, f"no {label}")
            return f"{label} is set"
        if kind == "flag":
            yes = value is True or str(value).lower() == "true"
            return label if yes == (operator == "=") else f"not {label}"
        if kind == "date":
            return self.moment(label, operator, value)
        return f"{label} {_COMPARISONS.get(operator, operator)} {self.value(kind, value)}"

    def label(self, field: str) -> tuple[str, str]:
        """The field's name for people, and how its values read (text, flag, date, plain)."""
        if field.startswith("custom_attributes."):
            name = field.removeprefix("custom_attributes.")
            attribute = self.attributes.get(name)
            if attribute is None:
                return name, "text"
            kind = {DataAttribute.DataType.BOOLEAN: "yes_no", DataAttribute.DataType.DATE: "date",
                    DataAttribute.DataType.DATETIME: "date"}.get(attribute.data_type, "text")  # fmt: skip
            return attribute.label or name, kind
        label = self.labels.get(field, field.replace("_", " "))
        if field in _FLAGS:
            return label, "flag"
        if field in _DATE_FIELDS:
            return label, "date"
        if field == COMPANIES_ID:
            return label, "company"
        return label, "plain" if field in ("role", "id", "owner_id", "size", "monthly_spend", "user_count",
                                           "session_count") else "text"  # fmt: skip

    def value(self, kind: str, value: Any) -> str:
        if kind == "company":  # its name, as the list's Company filter says it; one deleted since by its id
            company_id = _int(value)
            return f"“{self.companies[company_id]}”" if company_id in self.companies else f"#{value} (deleted)"
        if kind == "yes_no":
            return "yes" if value is True or str(value).lower() == "true" else "no"
        if kind == "text":
            return f"“{value}”"
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)

    def tag(self, operator: str, value: Any) -> str:
        names = [self.tag_name(item) for item in (value if isinstance(value, list) else [value])]
        listed = " or ".join(names)
        return f"tag {listed}" if operator in ("=", "IN") else f"not tagged {listed}"

    def tag_name(self, value: Any) -> str:
        tag_id = _int(value)
        return self.tags.get(tag_id, f"#{value} (deleted)") if tag_id is not None else str(value)

    @staticmethod
    def moment(label: str, operator: str, value: Any) -> str:
        relative = relative_moment_or_none(value)
        if relative is not None:
            count = abs(relative.amount)
            if relative.anchor == "now" and relative.amount < 0:
                return (
                    f"{label} within {_amount(count, relative.unit)}"
                    if operator == ">"
                    else f"{label} more than {_amount(count, relative.unit)} ago"
                )
            if relative.anchor == "today" and relative.amount == 0:
                return f"{label} today" if operator == ">" else f"{label} before today"
            if relative.amount == 0:
                when = relative.anchor
            else:
                direction = "ago" if relative.anchor == "now" else "before today"
                if relative.amount > 0:
                    direction = "from now" if relative.anchor == "now" else "after today"
                when = f"{_amount(count, relative.unit)} {direction}"
            return f"{label} {'after' if operator == '>' else 'before' if operator == '<' else 'at'} {when}"
        moment = unix_time_or_none(value)
        when = moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else str(value)
        if moment is not None and moment.time() == dt.time(0):
            when = moment.strftime("%Y-%m-%d")
        return f"{label} {'after' if operator == '>' else 'before' if operator == '<' else 'on'} {when}"


def _int(value: Any) -> int | None:
    return int_or_none(value) if isinstance(value, str | int) else None


def _fields(query: Any) -> list[tuple[str, Any]]:
    """(field, value) of every filter in a query; IN lists give one pair per value."""
    return [(field, value) for field, value in query_filter_values(query) if isinstance(field, str)]


_LEFT_OUT_WORDS = {
    (VISITORS_LEFT_OUT, ARCHIVED_LEFT_OUT): "Anonymous visitors and archived contacts are left out: a segment holds "
    "users and leads that are not archived, as the API's contact search does.",
    (VISITORS_LEFT_OUT,): "Anonymous visitors are left out: a segment holds users and leads, as the API's contact "
    "search does.",
    (ARCHIVED_LEFT_OUT,): "Archived contacts are left out unless the filter names “archived”.",
}


def left_out_in_words(query: Any, *, person_type: str = Segment.PersonType.CONTACT) -> str:
    """Whom a contact segment with this filter leaves out although the contact list shows them (contacts.search's
    rule: users and leads, archived ones only when asked), in one sentence; "" when nobody (a company segment)."""
    if person_type != Segment.PersonType.CONTACT:
        return ""
    return _LEFT_OUT_WORDS.get(contacts_left_out(query), "")


def query_in_words(query: Any, *, person_type: str = Segment.PersonType.CONTACT) -> str:
    """A saved (valid) segment filter in words, first letter capitalised; top-level AND filters joined by " · "."""
    words = _Words(query, person_type).node(query, top=True)
    return words[:1].upper() + words[1:]
