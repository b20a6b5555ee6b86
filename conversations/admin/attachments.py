"""Attachments in the admin: the teammates' door to a file (a signed, expiring link opened with a
teammate's session), and the shape the conversation page and its poll show each file in.

The Attachment model is registered only for that URL: it is not on the admin index, and nobody adds,
changes or deletes files here (they come with messages and go with them).
"""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.views.decorators.http import require_safe

from conversations import selectors
from conversations.attachment_links import attachment_link_check, attachment_link_query
from conversations.attachment_responses import attachment_file_response
from conversations.models import Attachment
from conversations.services.attachments import attachment_limits, size_words

# Who may open a conversation's files: whoever may read conversations (viewers too).
VIEW_PERMISSION = "conversations.view_conversation"
KILOBYTE = 1024


def attachment_admin_url(attachment: Attachment, variant: str = Attachment.Variant.ORIGINAL) -> str:
    """The teammates' link to the file (or its thumbnail): works for PARLEY_ATTACHMENT_URL_MAX_AGE."""
    base = reverse("admin:conversations_attachment_file", args=[attachment.public_id])
    return base + attachment_link_query(attachment=attachment, variant=variant)


def attachment_admin_json(attachment: Attachment) -> dict[str, Any]:
    """One file as the conversation page and its poll show it (escaped by the template or textContent)."""
    inline = attachment.is_inline_image
    url = attachment_admin_url(attachment)
    return {
        "name": attachment.name,
        "url": url,
        "thumbnail_url": attachment_admin_url(attachment, Attachment.Variant.THUMBNAIL) if inline else None,
        # Saves the file under its name (an inline image's `url` shows it in a tab).
        "download_url": attachment_admin_url(attachment, Attachment.Variant.DOWNLOAD) if inline else url,
        "inline": inline,
        "content_type": attachment.content_type,
        "size": size_words(attachment.size),
        "width": attachment.width,
        "height": attachment.height,
    }


def part_attachments_json(part: Any) -> list[dict[str, Any]]:
    """The files of a part whose `attachments` were prefetched (selectors.conversation_thread)."""
    return [attachment_admin_json(attachment) for attachment in part.attachments.all()]


def attachment_composer_context(conversation: Any) -> dict[str, Any]:
    """What the composer says and accepts: the conversation's website limits (no query: website is joined)."""
    limits = attachment_limits(conversation.website)
    return {
        "attachment_limits": limits.as_json(),
        "attachment_max_mb": limits.max_bytes // (KILOBYTE * KILOBYTE),
        "attachment_accept": ",".join([*limits.types, *limits.as_json()["extensions"]]),
    }


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """No pages of its own: only the file URL (get_urls)."""

    actions = None

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        return {}  # not listed on the admin index

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # files are seen in their conversation, never listed on their own

    def get_urls(self) -> list[Any]:
        # Not wrapped in admin_view: a file link opened without a session answers 403, not a login page.
        file_url = path("<str:public_id>/file", attachment_file_view, name="conversations_attachment_file")
        return [file_url, *super().get_urls()]


@require_safe
def attachment_file_view(request: HttpRequest, public_id: str) -> HttpResponse:
    """A teammate opens a file: a valid, unexpired link and a teammate who may read conversations."""
    user = request.user
    if not (user.is_active and user.is_staff and user.has_perm(VIEW_PERMISSION)):
        raise PermissionDenied
    link = attachment_link_check(public_id=public_id, params=request.GET.dict())
    if link is None:
        raise PermissionDenied
    attachment = selectors.attachment_for_teammate(public_id=link.public_id)
    if attachment is None:
        raise Http404("No such file.")
    return attachment_file_response(attachment=attachment, variant=link.variant)
