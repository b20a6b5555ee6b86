"""The messenger's attachment endpoints: the website's limits, and the door through which a contact opens
the files of their own conversations (a signed, unexpired link made for them; no token in the URL)."""

from django.http import HttpResponse

from contacts.models import Contact
from conversations import selectors
from conversations.attachment_links import attachment_link_check, contact_holder
from conversations.attachment_responses import attachment_file_response
from conversations.services.attachments import attachment_limits
from widget.http import WidgetCall, WidgetHttpError, widget_endpoint, widget_json

# The limits change only when a teammate edits the website: browsers may keep them a few minutes.
LIMITS_MAX_AGE_SECONDS = 300


@widget_endpoint(methods=("GET",))
def attachment_limits_view(call: WidgetCall) -> HttpResponse:
    """What the messenger may send on this website: bytes per file, files per message, the types (no token)."""
    # Where uploads go: the page knows this server only through the loader's address, which the panel lacks.
    upload_base = call.request.build_absolute_uri(f"/widget-api/{call.website.app_id}/")
    response = widget_json({**attachment_limits(call.website).as_json(), "upload_base": upload_base})
    response["Cache-Control"] = f"public, max-age={LIMITS_MAX_AGE_SECONDS}"
    return response


@widget_endpoint(methods=("GET", "HEAD"))
def attachment_file_view(call: WidgetCall, public_id: str) -> HttpResponse:
    """A file (or its thumbnail) of a contact's message, through a link made for the conversation's contact
    by this website's messenger; anything else (a file that does not exist too) is a 403."""
    attachment = selectors.attachment_for_contact(public_id=public_id)
    conversation = attachment.part.conversation if attachment is not None else None
    if conversation is not None:
        # Only a file this website's messenger can show: never an anonymous contact's of another website (a
        # user's messenger shows every website's conversations after a verified sign-in, which a link cannot tell).
        user = conversation.contact.role == Contact.Role.USER
        scope = selectors.messenger_scope(website_id=call.website.pk, verified_sign_in=user)
        if not selectors.conversation_shown_through(conversation=conversation, **scope):
            conversation = None
    holder = contact_holder(contact_id=conversation.contact_id, website_id=call.website.pk) if conversation else ""
    link = attachment_link_check(public_id=public_id, params=call.request.GET.dict(), holder=holder)
    if link is None or conversation is None:
        raise WidgetHttpError(403, "invalid_link", "sig", "This file link is invalid or has expired.")
    # The messenger shows it on the customer's site: other origins may embed it (an <img>, a download link).
    return attachment_file_response(attachment=attachment, variant=link.variant, cross_origin=True)
