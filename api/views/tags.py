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


def _extra_permissions(values: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """What POST /tags needs beyond add_tag: change_tag to rename, the tag links to (un)tag contacts."""
    needed = ["contacts.change_tag"] if values.get("id") else []
    references = body.get("users") if isinstance(body.get("users"), list) else []
    untagging = [isinstance(ref, dict) and ref.get("untag") is True for ref in references]
    if not all(untagging):
        needed.append("contacts.add_contacttag")
    if any(untagging):
        needed.append("contacts.delete_contacttag")
    return needed


class TagsView(IntercomView):
    @extend_schema(operation_id="ListTags", responses=TagListOutput)
    def get(self, request: Request) -> Response:
        return Response(tag_list_json(contact_selectors.tag_list()))

    @extend_schema(operation_id="CreateTag", request=TagCreateInput, responses=TagOutput)
    def post(self, request: Request) -> Response:
        """Create a tag (or return the one with that name); with `id`, rename it; with `users`, tag them."""
        body = self.body(request)
        values = self.parse(TagCreateInput, body)
        permissions_require(request, *_extra_permissions(values, body))
        renamed = selectors.tag_get(tag_id=values["id"], field="id") if values.get("id") else None
        tag_ids: list[int] = []
        untag: list[int] = []
        if "users" in body:
            ids = _contact_ids(body["users"])
            untag = [pk for pk, ref in zip(ids, body["users"], strict=True) if ref.get("untag") is True]
            tag_ids = [pk for pk in ids if pk not in untag]
        tag = services.tag_save(
            name=values["name"], tag=renamed, actor=request.user, tag_contact_ids=tag_ids, untag_contact_ids=untag
        )
        return Response(TagOutput(tag).data)


class TagView(IntercomView):
    @extend_schema(operation_id="FindTag", responses=TagOutput)
    def get(self, request: Request, tag_id: str) -> Response:
        return Response(TagOutput(selectors.tag_get(tag_id=tag_id)).data)

    @extend_schema(operation_id="DeleteTag", responses={200: None})
    def delete(self, request: Request, tag_id: str) -> Response:
        services.tag_delete(tag=selectors.tag_get(tag_id=tag_id))
        return Response(status=200)
