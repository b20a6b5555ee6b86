"""What the resources share: the workspace id, Intercom's `pages` object and paged list, the search body."""

from typing import Any

from rest_framework import serializers

from api.pagination import Page

WORKSPACE_ID = "parley"


def blank_to_none(value: str | None) -> str | None:
    """Parley stores "" for an unset text field; Intercom shows null."""
    return value or None


class PagesOutput(serializers.Serializer):
    type = serializers.CharField(default="pages")
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    total_pages = serializers.IntegerField()
    next = serializers.DictField(required=False, help_text="Absent on the last page.")


def paged_json(
    page: Page, *, items: list[dict[str, Any]], list_type: str = "list", key: str = "data"
) -> dict[str, Any]:
    """Intercom's paged list: `{type, <key>: items, total_count, pages}` (contacts, conversations, notes)."""
    return {"type": list_type, key: items, "total_count": page.total_count, "pages": page.pages_json()}


class SingleFilterSchema(serializers.Serializer):
    field = serializers.CharField()
    operator = serializers.ChoiceField(choices=["=", "!=", "IN", "NIN", ">", "<", "~", "!~", "^", "$"])
    value = serializers.JSONField()


class SearchPaginationInput(serializers.Serializer):
    per_page = serializers.IntegerField(required=False, min_value=1, max_value=150)
    starting_after = serializers.CharField(required=False, allow_null=True)


class SearchInput(serializers.Serializer):
    """`query` is a single filter or an AND/OR group of filters (nested at most twice)."""

    query = serializers.JSONField(
        help_text="{field, operator, value} or {operator: AND|OR, value: [...]}. Date fields take Unix seconds, or "
        'with > and < a relative moment ("now-30d", "today", "now+2w"); contacts also take segment_id, companies.id '
        "and companies.name (docs/api.md)."
    )
    pagination = SearchPaginationInput(required=False)
    sort = serializers.JSONField(
        required=False,
        help_text="{field, order: ascending|descending} on an indexed field (contacts: id, created_at, updated_at, "
        "signed_up_at, last_seen_at, external_id; conversations: id, created_at, updated_at, waiting_since); "
        "absent: newest first. Missing values count as the largest (last ascending, first descending).",
    )
