"""Companies: create-or-update by company_id, retrieve, list (page numbers and `order`), scroll,
update, delete; a contact's companies (attach, detach, list) and a company's contacts."""

from typing import Any
from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import ParameterInvalid, ParameterNotFound
from api.fields import int_param
from api.pagination import MAX_PER_PAGE, Cursor, cursor_decode, cursor_encode
from api.serializers.base import paged_json
from api.serializers.companies import (
    CompanyAttachInput,
    CompanyContactsOutput,
    CompanyCreateInput,
    CompanyDeletedOutput,
    CompanyListOutput,
    CompanyOutput,
    CompanyScrollOutput,
    CompanyWriteInput,
    ContactCompaniesOutput,
    companies_json,
    company_json,
    offset_pages_json,
)
from api.serializers.contacts import ContactOutput
from api.views.base import IntercomView
from companies import services
from companies.models import Company
from segments.models import Segment

# Intercom's company lists: 15 a page by default, and no deeper than 10,000 companies (the scroll goes on).
DEFAULT_PER_PAGE = 15
MAX_LISTED = 10_000
# Writing a company's custom attribute that is not defined yet defines it: only for who may.
DEFINE_ATTRIBUTES_PERMISSION = "contacts.add_dataattribute"
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="1 or more; page times per_page at most 10,000 (use the scroll beyond)"),
    OpenApiParameter("per_page", int, description="1 to 150, default 15"),
    OpenApiParameter("order", str, enum=["desc", "asc"], description="By last request; default desc"),
]


def _company_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments for validated input (null clears a field)."""
    return {name: values[name] for name in services.WRITABLE_FIELDS if name in values}


def _define(request: Request) -> bool:
    return request.user.has_perm(DEFINE_ATTRIBUTES_PERMISSION)


def _page_params(request: Request) -> tuple[int, int, bool]:
    """(page, per_page, ascending) from the query string, bounded to Intercom's 10,000 listed companies."""
    params = request.query_params
    per_page = int_param(params.get("per_page"), field="per_page", maximum=MAX_PER_PAGE, default=DEFAULT_PER_PAGE)
    page = int_param(params.get("page"), field="page", maximum=MAX_LISTED, default=1)
    if (page - 1) * per_page >= MAX_LISTED:
        raise ParameterInvalid("page", f"Lists reach the first {MAX_LISTED:,} companies; use GET /companies/scroll.")
    order = params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise ParameterInvalid("order", "order must be asc or desc.")
    return page, per_page, order == "asc"


def _company_list(request: Request, companies: Any, *, page: int, per_page: int) -> dict[str, Any]:
    """One page-numbered page of companies, with Intercom's `pages` (a `next` URL while rows follow)."""
    rows, total, more = selectors.companies_offset_page(companies, page=page, per_page=per_page)
    next_url = None
    if more and page * per_page < MAX_LISTED:
        query = {**request.query_params.dict(), "page": page + 1, "per_page": per_page}
        next_url = request.build_absolute_uri(request.path) + "?" + urlencode(query)
    return {
        "type": "list",
        "data": companies_json(rows),
        "total_count": total,
        "pages": offset_pages_json(page=page, per_page=per_page, total=total, next_url=next_url),
    }


class CompaniesView(IntercomView):
    @extend_schema(
        operation_id="RetrieveCompany",
        parameters=[
            OpenApiParameter("company_id", str, description="Your id for the company: answers that one company"),
            OpenApiParameter("name", str, description="The company's name: answers that one company"),
            OpenApiParameter("tag_id", str, description="Companies with this tag (a list)"),
            OpenApiParameter("segment_id", str, description="Companies in this company segment (a list)"),
            *PAGE_PARAMETERS,
        ],
        responses=PolymorphicProxySerializer(
            component_name="CompaniesRetrieveResponse",
            serializers=[CompanyOutput, CompanyListOutput],
            resource_type_field_name=None,
        ),
        description="With `company_id` or `name`, one company object; otherwise a page of companies.",
    )
    def get(self, request: Request) -> Response:
        """One company by company_id or name, or a page of companies (those with `tag_id`, or in `segment_id`)."""
        params = request.query_params
        if params.get("company_id") is not None:
            return Response(company_json(selectors.company_get_by_company_id(company_id=params["company_id"])))
        if params.get("name") is not None:
            return Response(company_json(selectors.company_get_by_name(name=params["name"])))
        page, per_page, ascending = _page_params(request)
        if params.get("tag_id") is not None and params.get("segment_id") is not None:
            raise ParameterInvalid("segment_id", "Retrieve companies by tag_id or by segment_id, not both.")
        if params.get("segment_id") is not None:
            segment = selectors.segment_get(
                segment_id=params["segment_id"], field="segment_id", person_type=Segment.PersonType.COMPANY
            )
            companies = selectors.companies_list(ascending=ascending, segment=segment)
        elif params.get("tag_id") is not None:
            tag = selectors.tag_get(tag_id=params["tag_id"], field="tag_id")
            companies = selectors.companies_list(ascending=ascending, tag_id=tag.pk)
        else:
            companies = selectors.companies_list(ascending=ascending)
        return Response(_company_list(request, companies, page=page, per_page=per_page))

    @extend_schema(operation_id="CreateOrUpdateCompany", request=CompanyCreateInput, responses=CompanyOutput)
    def post(self, request: Request) -> Response:
        """Create the company with this company_id, or update it when it exists."""
        body = self.body(request)
        if "company_id" not in body:
            raise ParameterNotFound("company_id")
        values = self.parse(CompanyCreateInput, body)
        company, _created = services.company_create_or_update(
            company_id=values["company_id"],
            custom_attributes=values.get("custom_attributes"),
            define_attributes=_define(request),
            **_company_fields(values),
        )
        return Response(company_json(selectors.company_get(company_id=company.pk)))


class CompanyListView(IntercomView):
    @extend_schema(
        operation_id="ListAllCompanies", request=None, parameters=PAGE_PARAMETERS, responses=CompanyListOutput
    )
    def post(self, request: Request) -> Response:
        """Every company by last request (newest first unless `order=asc`), page by page."""
        page, per_page, ascending = _page_params(request)
        return Response(
            _company_list(request, selectors.companies_list(ascending=ascending), page=page, per_page=per_page)
        )


class CompanyScrollView(IntercomView):
    @extend_schema(
        operation_id="ScrollOverAllCompanies",
        parameters=[OpenApiParameter("scroll_param", str, description="From the previous answer; none for the first")],
        responses=CompanyScrollOutput,
    )
    def get(self, request: Request) -> Response:
        """Every company, in id order, however many: each answer's scroll_param asks for the next."""
        cursor = cursor_decode(request.query_params.get("scroll_param"), field="scroll_param")
        per_page = int_param(request.query_params.get("per_page"), field="per_page", maximum=MAX_PER_PAGE, default=50)
        rows, more = selectors.companies_scroll(after_pk=cursor.after_pk if cursor else 0, per_page=per_page)
        page = cursor.page if cursor else 1
        scroll_param = cursor_encode(Cursor(after_pk=rows[-1].pk, page=page + 1)) if more else None
        return Response(
            {
                "type": "list",
                "data": companies_json(rows),
                "total_count": None,
                "pages": None,
                "scroll_param": scroll_param,
            }
        )


class CompanyView(IntercomView):
    @extend_schema(operation_id="RetrieveACompanyById", responses=CompanyOutput)
    def get(self, request: Request, company_id: str) -> Response:
        return Response(company_json(selectors.company_get(company_id=company_id)))

    @extend_schema(operation_id="UpdateCompany", request=CompanyWriteInput, responses=CompanyOutput)
    def put(self, request: Request, company_id: str) -> Response:
        """Update a company's fields and custom attributes; its company_id never changes."""
        company = selectors.company_get(company_id=company_id)
        body = self.body(request)
        if "company_id" in body and body["company_id"] != company.company_id:
            raise ParameterInvalid("company_id", "company_id cannot be changed.")
        values = self.parse(CompanyWriteInput, body)
        services.company_update(
            company=company,
            custom_attributes=values.get("custom_attributes"),
            define_attributes=_define(request),
            **_company_fields(values),
        )
        return Response(company_json(selectors.company_get(company_id=company.pk)))

    @extend_schema(operation_id="DeleteCompany", responses={200: CompanyDeletedOutput})
    def delete(self, request: Request, company_id: str) -> Response:
        """Delete the company; its people stay, without it."""
        company = selectors.company_get(company_id=company_id)
        pk = company.pk
        services.company_delete(company=company)
        return Response({"id": str(pk), "object": "company", "deleted": True})


class CompanyContactsView(IntercomView):
    @extend_schema(
        operation_id="ListAttachedContacts",
        parameters=[OpenApiParameter("per_page", int), OpenApiParameter("starting_after", str)],
        responses=CompanyContactsOutput,
    )
    def get(self, request: Request, company_id: str) -> Response:
        """The company's people, most recently added first, with cursor pages."""
        company = selectors.company_get(company_id=company_id)
        per_page, cursor = self.list_params(request)
        page = selectors.company_contacts_page(company=company, per_page=per_page, cursor=cursor)
        return Response(paged_json(page, items=ContactOutput(page.rows, many=True).data))


class ContactCompaniesView(IntercomView):
    @extend_schema(
        operation_id="ListCompaniesForAContact",
        parameters=[OpenApiParameter("page", int), OpenApiParameter("per_page", int)],
        responses=ContactCompaniesOutput,
    )
    def get(self, request: Request, contact_id: str) -> Response:
        """The companies a contact belongs to (at most 100), page by page."""
        contact = selectors.contact_get(contact_id=contact_id)
        params = request.query_params
        per_page = int_param(params.get("per_page"), field="per_page", maximum=MAX_PER_PAGE, default=DEFAULT_PER_PAGE)
        page = int_param(params.get("page"), field="page", maximum=MAX_LISTED, default=1)
        companies = selectors.contact_companies(contact=contact)
        total = len(companies)
        rows = companies[(page - 1) * per_page : page * per_page]
        return Response(
            {
                "type": "list",
                "companies": companies_json(rows),
                "total_count": total,
                "pages": offset_pages_json(page=page, per_page=per_page, total=total, next_url=None),
            }
        )

    @extend_schema(operation_id="AttachContactToACompany", request=CompanyAttachInput, responses=CompanyOutput)
    def post(self, request: Request, contact_id: str) -> Response:
        """Make the contact (a user or a lead) a member of the company with this Intercom id."""
        contact = selectors.contact_get(contact_id=contact_id)
        values = self.parse(CompanyAttachInput, self.body(request))
        company = selectors.company_get(company_id=values["id"], field="id")
        services.company_attach(company=company, contact=contact)
        return Response(company_json(selectors.company_get(company_id=company.pk)))


class ContactCompanyView(IntercomView):
    @extend_schema(operation_id="DetachContactFromACompany", responses=CompanyOutput)
    def delete(self, request: Request, contact_id: str, company_id: str) -> Response:
        """End the contact's membership of the company (nothing changes when it had none)."""
        contact = selectors.contact_get(contact_id=contact_id)
        company: Company = selectors.company_get(company_id=company_id)
        services.company_detach(company=company, contact=contact)
        return Response(company_json(selectors.company_get(company_id=company.pk)))
