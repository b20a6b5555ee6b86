"""Tags: list, create or rename, get, delete; tagging many contacts through POST /tags."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.errors import ParameterInvalid
from api.permissions import permissions_require
from api.serializers.tags import TagCreateInput, TagListOutput, TagOutput, tag_list_json
from api.views.base import IntercomView
from common.parsing import bool_or_none
from companies import services as company_services
from contacts import selectors as contact_selectors
from contacts import services

MAX_TAGGED_PER_REQUEST = 1000


def _contact_ids(references: Any) -> list[int]:
    """`users: [{"id": …}]` in POST /tags: the contacts to tag (or untag) at once."""
    if not isinstance(references, list) or len(references) > MAX_TAGGED_PER_REQUEST:
        raise ParameterInvalid("users", f"users must be a list of at most {MAX_TAGGED_PER_REQUEST} objects.")
    ids = []
    for index, reference in enumerate(references):
        pk = selectors.pk_from_id(reference.get("id")) if isinstance(reference, dict) else None
        if pk is None:
            raise ParameterInvalid(f"users[{index}].id", "Each user needs the contact's id.")
        ids.append(pk)
    return ids


def _company_ids(references: Any) -> list[int]:
    """`companies: [{"id": …} or {"company_id": …}]` in POST /tags: the companies to tag (or untag) at once."""
    if not isinstance(references, list) or len(references) > MAX_TAGGED_PER_REQUEST:
        raise ParameterInvalid("companies", f"companies must be a list of at most {MAX_TAGGED_PER_REQUEST} objects.")
    for index, reference in enumerate(references):
        if not isinstance(reference, dict) or not (reference.get("id") or reference.get("company_id")):
            raise ParameterInvalid(f"companies[{index}]", "Each company needs its id or its company_id.")
    found = selectors.companies_by_reference(references)
    missing = [index for index, pk in enumerate(found) if pk is None]
    if missing:
        raise ParameterInvalid(f"companies[{missing[0]}]", "No company has this id or company_id.")
    return [pk for pk in found if pk is not None]


def _untag_flags(body: dict[str, Any], key: str) -> list[bool]:
    """The `untag` of each reference in `users` or `companies`: true or false, or their text in any case, as every
    boolean of the API's searches (absent or null: tag); anything else is a 400 naming `users[0].untag`, never
    read as "tag" (the opposite of what was asked)."""
    references = body.get(key)
    flags = []
    for index, reference in enumerate(references if isinstance(references, list) else []):
        untag = reference.get("untag") if isinstance(reference, dict) else None
        flag = False if untag is None else bool_or_none(untag)
        if flag is None:
            raise ParameterInvalid(f"{key}[{index}].untag", "untag must be true or false.")
        flags.append(flag)
    return flags


def _extra_permissions(values: dict[str, Any], body: dict[str, Any], untag: dict[str, list[bool]]) -> list[str]:
    """What POST /tags needs beyond add_tag: change_tag to rename, the tag links to (un)tag contacts or companies."""
    needed = ["contacts.change_tag"] if values.get("id") else []
    for key, app, link in (("users", "contacts", "contacttag"), ("companies", "companies", "companytag")):
        if key in body and not all(untag[key]):
            needed.append(f"{app}.add_{link}")
        if any(untag[key]):
            needed.append(f"{app}.delete_{link}")
    return needed


class TagsView(IntercomView):
    @extend_schema(operation_id="ListTags", responses=TagListOutput)
    def get(self, request: Request) -> Response:
        return Response(tag_list_json(contact_selectors.tag_list()))

    @extend_schema(operation_id="CreateTag", request=TagCreateInput, responses=TagOutput)
    def post(self, request: Request) -> Response:
        """Create a tag (or return the one with that name); with `id`, rename it; with `users` or
        `companies`, tag them (`untag: true` removes it)."""
        body = self.body(request)
        values = self.parse(TagCreateInput, body)
        untag_flags = {key: _untag_flags(body, key) for key in ("users", "companies")}
        permissions_require(request, *_extra_permissions(values, body, untag_flags))
        renamed = selectors.tag_get(tag_id=values["id"], field="id") if values.get("id") else None
        tag_ids: list[int] = []
        untag: list[int] = []
        if "users" in body:
            ids = _contact_ids(body["users"])
            untag = [pk for pk, flag in zip(ids, untag_flags["users"], strict=True) if flag]
            tag_ids = [pk for pk in ids if pk not in untag]
        tag_company_ids: list[int] = []
        untag_company_ids: list[int] = []
        if "companies" in body:
            company_ids = _company_ids(body["companies"])
            untag_company_ids = [pk for pk, flag in zip(company_ids, untag_flags["companies"], strict=True) if flag]
            tag_company_ids = [pk for pk in company_ids if pk not in untag_company_ids]
        # contacts.services.tag_save, then the companies, in one transaction (contacts knows no companies).
        tag = company_services.tag_save_with_companies(
            name=values["name"],
            tag=renamed,
            actor=request.user,
            tag_contact_ids=tag_ids,
            untag_contact_ids=untag,
            tag_company_ids=tag_company_ids,
            untag_company_ids=untag_company_ids,
        )
        return Response(TagOutput(tag).data)


class TagView(IntercomView):
    @extend_schema(operation_id="FindTag", responses=TagOutput)
    def get(self, request: Request, tag_id: str) -> Response:
        return Response(TagOutput(selectors.tag_get(tag_id=tag_id)).data)

    @extend_schema(operation_id="DeleteTag", responses={200: None})
    def delete(self, request: Request, tag_id: str) -> Response:
        """Delete a tag; one a saved segment's filter names is Intercom's 400 `tag_has_dependent_objects`, naming
        those segments."""
        services.tag_delete(tag=selectors.tag_get(tag_id=tag_id))
        return Response(status=200)
