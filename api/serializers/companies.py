"""Companies: Intercom's company object, its lists (offset pages, scroll), the write inputs, webhook items."""

import math
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import UnixTimeField, unix
from api.serializers.base import WORKSPACE_ID, PagesOutput, blank_to_none
from api.serializers.contacts import ContactOutput
from api.serializers.segments import SegmentOutput, segment_json
from api.serializers.tags import TagOutput
from common.parsing import float_or_none
from companies.models import INT32_MAX, Company, CompanyContact
from segments.models import Segment
from segments.selectors import companies_segments


class CompanyPlanOutput(serializers.Serializer):
    type = serializers.CharField(default="plan")
    id = serializers.CharField()
    name = serializers.CharField()


class CompanyTagsOutput(serializers.Serializer):
    type = serializers.CharField(default="tag.list")
    tags = TagOutput(many=True)


class CompanySegmentsOutput(serializers.Serializer):
    type = serializers.CharField(default="segment.list")
    segments = SegmentOutput(many=True, help_text="The company segments it is in now.")


def companies_json(companies: list[Company]) -> list[dict[str, Any]]:
    """Companies as Intercom shows them, with the segments each is in (one query for the whole list); expects
    `tags` prefetched (companies.selectors.companies_for_output)."""
    segments = companies_segments(company_ids=[company.pk for company in companies])
    return [_company_json(company, segments=segments[company.pk]) for company in companies]


def company_json(company: Company) -> dict[str, Any]:
    """One company as Intercom shows it (companies_json of one)."""
    return companies_json([company])[0]


def _company_json(company: Company, *, segments: list[Segment]) -> dict[str, Any]:
    return {
        "type": "company",
        "id": str(company.pk),
        "name": company.name,
        "app_id": WORKSPACE_ID,
        "company_id": company.company_id,
        # Intercom names the plan; Parley's plan is its name, so the name is its id too.
        "plan": {"type": "plan", "id": company.plan, "name": company.plan} if company.plan else None,
        "remote_created_at": unix(company.remote_created_at),
        "created_at": unix(company.created_at),
        "updated_at": unix(company.updated_at),
        "last_request_at": unix(company.last_request_at),
        "size": company.size,
        "website": blank_to_none(company.website),
        "industry": blank_to_none(company.industry),
        "monthly_spend": company.monthly_spend,
        "session_count": company.session_count,
        "user_count": company.user_count,
        "custom_attributes": company.custom_attributes or {},
        "tags": {"type": "tag.list", "tags": TagOutput(company.tags.all(), many=True).data},
        "segments": {"type": "segment.list", "segments": [segment_json(segment) for segment in segments]},
    }


class CompanyOutput(serializers.Serializer):
    """Intercom's company object (the shape `company_json` makes; this class documents it)."""

    type = serializers.CharField(default="company")
    id = serializers.CharField()
    name = serializers.CharField()
    app_id = serializers.CharField()
    company_id = serializers.CharField()
    plan = CompanyPlanOutput(allow_null=True)
    remote_created_at = serializers.IntegerField(allow_null=True)
    created_at = serializers.IntegerField()
    updated_at = serializers.IntegerField()
    last_request_at = serializers.IntegerField(allow_null=True)
    size = serializers.IntegerField(allow_null=True)
    website = serializers.CharField(allow_null=True)
    industry = serializers.CharField(allow_null=True)
    monthly_spend = serializers.IntegerField()
    session_count = serializers.IntegerField()
    user_count = serializers.IntegerField()
    custom_attributes = serializers.DictField()
    tags = CompanyTagsOutput()
    segments = CompanySegmentsOutput()

    def to_representation(self, instance: Company) -> dict[str, Any]:
        return company_json(instance)


class OffsetPagesOutput(serializers.Serializer):
    type = serializers.CharField(default="pages")
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    total_pages = serializers.IntegerField()
    next = serializers.CharField(required=False, help_text="The next page's URL; absent on the last page.")


class CompanyListOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    data = CompanyOutput(many=True)
    total_count = serializers.IntegerField()
    pages = OffsetPagesOutput()


class CompanyScrollOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    data = CompanyOutput(many=True)
    total_count = serializers.IntegerField(allow_null=True)
    scroll_param = serializers.CharField(allow_null=True, help_text="Null once the scroll has reached the end.")


class ContactCompaniesOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    companies = CompanyOutput(many=True)
    total_count = serializers.IntegerField()
    pages = OffsetPagesOutput()


class CompanyContactsOutput(serializers.Serializer):
    type = serializers.CharField(default="list")
    data = ContactOutput(many=True)
    total_count = serializers.IntegerField()
    pages = PagesOutput()


class CompanyDeletedOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="company")
    deleted = serializers.BooleanField()


def offset_pages_json(*, page: int, per_page: int, total: int, next_url: str | None) -> dict[str, Any]:
    """Intercom's `pages` of a page-numbered list; `next` only when another page has rows."""
    pages: dict[str, Any] = {
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": max(math.ceil(total / per_page), 1) if per_page else 1,
    }
    if next_url:
        pages["next"] = next_url
    return pages


@extend_schema_field(OpenApiTypes.NUMBER)
class WholeNumberField(serializers.Field):
    """Intercom's company integers: a JSON number or ASCII digits (never Unicode digits), 0 to 2**31-1,
    a fraction truncated (Intercom's words: "155.98 will be truncated to 155")."""

    default_error_messages = {"invalid": f"Must be a number from 0 to {INT32_MAX}."}

    def __init__(self, *, truncate: bool, **kwargs: Any) -> None:
        self.truncate = truncate
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        number = float_or_none(data)  # finite, ASCII text only
        if number is None or not 0 <= number <= INT32_MAX or (not self.truncate and number != int(number)):
            self.fail("invalid")
        return int(data) if isinstance(data, int) else int(number)

    def to_representation(self, value: Any) -> Any:
        return value


class CompanyWriteInput(serializers.Serializer):
    """Writable company fields (PUT takes the same, without company_id); anything else is ignored."""

    name = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    plan = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    size = WholeNumberField(truncate=False, required=False, allow_null=True)
    website = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    industry = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    monthly_spend = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=INT32_MAX,
        help_text="Whole units; a fraction is truncated.",
    )
    remote_created_at = UnixTimeField(required=False, allow_null=True)
    custom_attributes = serializers.DictField(required=False, allow_null=True)


class CompanyCreateInput(CompanyWriteInput):
    company_id = serializers.CharField(max_length=255, help_text="Your own id for the company; it cannot change.")


class CompanyAttachInput(serializers.Serializer):
    id = serializers.CharField(max_length=20, help_text="The company's Intercom id (not its company_id).")


def company_contact_item(membership: CompanyContact) -> dict[str, Any]:
    """The `data.item` of a company.contact.attached / detached webhook."""
    return {
        "type": "contact_company",
        "created_at": unix(membership.created_at),
        "company": company_json(membership.company),
        "contact": ContactOutput(membership.contact).data,
    }
