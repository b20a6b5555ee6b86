"""Attachment files for API clients: the `url` of a part's attachment, opened with the client's token."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request

from api.errors import ApiError, NotFound
from api.views.base import IntercomView
from conversations import selectors
from conversations.attachment_links import attachment_link_check
from conversations.attachment_responses import attachment_file_response

LINK_PARAMETERS = [
    OpenApiParameter(
        "v", str, enum=["file", "thumb", "download"], description="The file, its thumbnail, or the file to save"
    ),
    OpenApiParameter("exp", int, description="When the link stops working (Unix seconds)"),
    OpenApiParameter("sig", str, description="The link's signature"),
]


class AttachmentFileView(IntercomView):
    @extend_schema(
        operation_id="DownloadAttachment", parameters=LINK_PARAMETERS, responses={(200, "*/*"): OpenApiTypes.BINARY}
    )
    def get(self, request: Request, public_id: str) -> HttpResponse:
        """The bytes of an attachment, from the signed link a conversation part gave (valid for an hour)."""
        link = attachment_link_check(public_id=public_id, params=request.query_params.dict())
        if link is None:
            raise ApiError(code="forbidden", message="The attachment link is invalid or has expired.", field="sig",
                           status_code=403)  # fmt: skip
        attachment = selectors.attachment_for_teammate(public_id=link.public_id)
        if attachment is None:
            raise NotFound("Attachment Not Found")
        return attachment_file_response(attachment=attachment, variant=link.variant)
