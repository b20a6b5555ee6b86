"""What a token may do: its teammate's model permissions, per API operation (one table, kept in docs/api.md).

Every operation is a URL name and an HTTP method. A view answers only when the token's teammate
holds every permission its entry names; an operation missing from the table is refused (fail
closed), and tests/api/test_authorization_matrix.py fails when a route has no entry. Checks that
depend on the body (renaming a tag, tagging many contacts, acting as another admin) are made by
the view through `permissions_require` and `acting_teammate_check`.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from rest_framework import exceptions, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from api.errors import FORBIDDEN, ApiError

# An entry with no permission is open to every active teammate holding a token.
ANY_TEAMMATE: tuple[str, ...] = ()
OPERATION_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "api-me": {"GET": ANY_TEAMMATE},
    # Teammates see who they can assign to (as the admin's assignee lists do).
    "api-admins": {"GET": ANY_TEAMMATE},
    "api-admin": {"GET": ANY_TEAMMATE},
    # A teammate's own away mode (another admin's: superusers only, checked by the view).
    "api-admin-away": {"PUT": ("conversations.change_teammateprofile",)},
    "api-contacts": {"GET": ("contacts.view_contact",), "POST": ("contacts.add_contact",)},
    "api-contacts-search": {"POST": ("contacts.view_contact",)},
    # The lead's row is deleted (its history moves into the user): as irreversible as a delete.
    "api-contacts-merge": {"POST": ("contacts.change_contact", "contacts.delete_contact")},
    "api-contact-by-external-id": {"GET": ("contacts.view_contact",)},
    "api-contact": {
        "GET": ("contacts.view_contact",),
        "PUT": ("contacts.change_contact",),
        "DELETE": ("contacts.delete_contact",),  # the GDPR erase
    },
    "api-contact-archive": {"POST": ("contacts.change_contact",)},
    "api-contact-unarchive": {"POST": ("contacts.change_contact",)},
    "api-contact-tags": {"GET": ("contacts.view_contact", "contacts.view_tag"), "POST": ("contacts.add_contacttag",)},
    "api-contact-tag": {"DELETE": ("contacts.delete_contacttag",)},
    "api-contact-notes": {"GET": ("contacts.view_contactnote",), "POST": ("contacts.add_contactnote",)},
    "api-note": {"GET": ("contacts.view_contactnote",)},
    # POST /tags with `id` renames (change_tag), with `users` tags or untags: the view asks for those.
    "api-tags": {"GET": ("contacts.view_tag",), "POST": ("contacts.add_tag",)},
    "api-tag": {"GET": ("contacts.view_tag",), "DELETE": ("contacts.delete_tag",)},
    "api-data-attributes": {"GET": ("contacts.view_dataattribute",), "POST": ("contacts.add_dataattribute",)},
    "api-data-attribute": {"PUT": ("contacts.change_dataattribute",), "DELETE": ("contacts.delete_dataattribute",)},
    # GET /events?summary=true reads the summaries: the view also asks for view_eventsummary.
    "api-events": {"GET": ("tracking.view_event",), "POST": ("tracking.add_event",)},
    "api-event-summaries": {"POST": ("tracking.add_eventsummary", "tracking.change_eventsummary")},
    "api-conversations": {"GET": ("conversations.view_conversation",), "POST": ("conversations.add_conversation",)},
    # A conversation's files: whoever may read conversations (the link names one file and expires).
    "api-attachment-file": {"GET": ("conversations.view_conversation",)},
    "api-conversations-search": {"POST": ("conversations.view_conversation",)},
    "api-conversation": {
        "GET": ("conversations.view_conversation",),
        "PUT": ("conversations.change_conversation",),
        "DELETE": ("conversations.delete_conversation",),
    },
    # Replies, notes, close/open/snooze/assign and tags are what the admin's conversation page does
    # with change_conversation.
    "api-conversation-reply": {"POST": ("conversations.change_conversation", "conversations.add_conversationpart")},
    "api-conversation-parts": {"POST": ("conversations.change_conversation",)},
    "api-conversation-tags": {"POST": ("conversations.change_conversation",)},
    "api-conversation-tag": {"DELETE": ("conversations.change_conversation",)},
    "api-visitors": {"GET": ("contacts.view_contact",), "PUT": ("contacts.change_contact",)},
    "api-visitors-convert": {"POST": ("contacts.change_contact",)},
    # The admin's "Send a message" asks for the same permission.
    "api-messages": {"POST": ("conversations.add_message",)},
    "api-teams": {"GET": ("conversations.view_team",)},
    "api-segments": {"GET": ("segments.view_segment",)},
    "api-segment": {"GET": ("segments.view_segment",)},
    "api-contact-segments": {"GET": ("contacts.view_contact", "segments.view_segment")},
    "api-company-segments": {"GET": ("companies.view_company", "segments.view_segment")},
    "api-team": {"GET": ("conversations.view_team",)},
    # Companies: viewers read, agents create, update, attach and detach; deleting a company is an admin's.
    "api-companies": {
        "GET": ("companies.view_company",),
        "POST": ("companies.add_company", "companies.change_company"),
    },
    "api-companies-list": {"POST": ("companies.view_company",)},
    # Every company, page after page: the bulk export's right, as the admin's CSV export asks.
    "api-companies-scroll": {"GET": ("companies.view_company", "companies.export_company")},
    "api-company": {
        "GET": ("companies.view_company",),
        "PUT": ("companies.change_company",),
        "DELETE": ("companies.delete_company",),
    },
    "api-company-contacts": {"GET": ("companies.view_company", "contacts.view_contact")},
    "api-contact-companies": {
        "GET": ("contacts.view_contact", "companies.view_company"),
        "POST": ("companies.add_companycontact",),
    },
    "api-contact-company": {"DELETE": ("companies.delete_companycontact",)},
}


class Forbidden(ApiError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(code=FORBIDDEN, message=message, field=field, status_code=status.HTTP_403_FORBIDDEN)


def operation_permissions(*, url_name: str | None, method: str) -> tuple[str, ...] | None:
    """The permissions an operation needs, or None when the table has no entry for it."""
    method = "GET" if method == "HEAD" else method
    return OPERATION_PERMISSIONS.get(url_name or "", {}).get(method)


def permissions_require(request: Request, *permissions: str) -> None:
    """Refuse with 403 unless the token's teammate holds every one of `permissions`."""
    user = request.user
    missing = [permission for permission in permissions if not user.has_perm(permission)]
    if missing:
        raise Forbidden(f"This token's teammate lacks the permission {', '.join(missing)}.")


def acting_teammate_check(request: Request, teammate: AbstractBaseUser, *, field: str) -> AbstractBaseUser:
    """A token writes as its own teammate; only a superuser's token may name another admin."""
    if teammate.pk != request.user.pk and not request.user.is_superuser:
        raise Forbidden(f"{field} must be the id of this token's own admin.", field=field)
    return teammate


class TeammatePermissions(BasePermission):
    """The token's teammate holds the permissions `OPERATION_PERMISSIONS` lists for the operation."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.user is None or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated("Access Token Invalid")
        method = request.method or ""
        if method == "OPTIONS":
            return True  # DRF's metadata: names and content types, nothing from the database
        if not hasattr(view, method.lower()):
            return True  # DRF answers 405 in the envelope
        match: Any = request.resolver_match
        required = operation_permissions(url_name=match.url_name if match else None, method=method)
        if required is None:
            raise Forbidden("This operation has no permission entry; it is refused.")
        permissions_require(request, *required)
        return True
