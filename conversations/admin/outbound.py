"""Outbound messages: compose → preview for a real recipient (with the audience count) → a test (an
email to oneself, or an in-app message shown to a contact one names) → confirm "Send to N contacts"; a sent message's read-only page with its stats and recipients;
the contacts changelist's "send a message" action, through the same flow."""

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import ngettext

from common.admin_forms import ServiceValidatedForm
from common.pagination import EstimatedCountPaginator
from common.parsing import int_or_none
from common.teammates import PROFILE
from contacts.models import Contact, Tag
from conversations import selectors, services
from conversations.models import Message, MessageDelivery
from conversations.services import outbound, placeholders
from conversations.services.threads import contact_display_name, teammate_display_name
from segments.models import Segment

# Recipients listed per page on a sent message's page.
DELIVERIES_PER_PAGE = 50
DELIVERY_FILTER_LABELS = {
    "all": "Recipients", "sent": "Sent", "pending": "Waiting", "not_sent": "Skipped or failed",
    "not_tracked": "Not tracked (no marketing consent)", "opened": "Opened", "clicked": "Clicked", "unsubscribed": "Unsubscribed", "seen": "Seen", "replied": "Replied",
}  # fmt: skip
PLACEHOLDER_HELP = ", ".join(f"{{{{{name}}}}}" for name in placeholders.KNOWN_PLACEHOLDERS)
FALLBACK_EXAMPLE = '{{contact.first_name | fallback: "there"}}'


class ComposeForm(ServiceValidatedForm, forms.Form):
    channel = forms.ChoiceField(choices=Message.Channel.choices, initial=Message.Channel.EMAIL)
    subject = forms.CharField(
        max_length=255,
        required=False,
        help_text="Required for email. Placeholders work here too.",
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 10, "cols": 40, "class": "vLargeTextField"}), max_length=10_000,
                           help_text="Plain text. An unsubscribe link is added to emails. Opens and link clicks are "
                                     "tracked only for contacts who gave marketing consent, or made no choice on a "
                                     "website whose marketing basis is legitimate interest; the others get the email "
                                     "untracked (links as written).")  # fmt: skip


class MessageComposeForm(ComposeForm):
    tag = forms.ModelChoiceField(queryset=Tag.objects.order_by("name"), required=False,
                                 help_text="Send to every contact with this tag.")  # fmt: skip
    # Contact segments only: a company segment holds companies, not people to message.
    segment = forms.ModelChoiceField(queryset=Segment.objects.filter(person_type=Segment.PersonType.CONTACT)
                                     .order_by("name"), required=False,
                                     help_text="Or every contact in this segment when you send.")  # fmt: skip
    contact_ids = forms.CharField(required=False, label="Contact ids", help_text="Or a comma-separated list of ids.",
                                  widget=forms.TextInput(attrs={"class": "vTextField"}))  # fmt: skip

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("tag") and cleaned.get("segment"):
            self.add_error("segment", "Choose a tag or a segment, not both.")
        elif cleaned.get("segment") and (problem := outbound.message_segment_problem(segment=cleaned["segment"])):
            self.add_error("segment", problem)
        raw_ids = [x.strip() for x in (cleaned.get("contact_ids") or "").split(",") if x.strip()]
        contact_ids = [int_or_none(x) for x in raw_ids]
        if None in contact_ids:
            self.add_error("contact_ids", "Only numeric contact ids, separated by commas.")
        cleaned["contact_id_list"] = [x for x in contact_ids if x is not None]
        if not cleaned.get("tag") and not cleaned.get("segment") and not cleaned["contact_id_list"]:
            self.add_error("tag", "Choose a tag or a segment, or enter contact ids.")
        return cleaned


def _report_problems(request: HttpRequest, error: ValidationError) -> None:
    """The service's refusal as messages above the preview (its own wording, one message per field)."""
    for problems in error.message_dict.values():
        messages.error(request, " ".join(problems))


def _in_app_test(request: HttpRequest, *, draft: outbound.MessageDraft, reference: str) -> None:
    """Show the in-app draft, marked as a test, to the contact the teammate named (id or email)."""
    contact = selectors.message_test_recipient(reference=reference)
    if contact is None:
        messages.error(
            request,
            "No contact with this id or email to show the test to. Visit your site signed in with your email "
            "(or write in its messenger), then try again, or give a contact's id.",
        )
        return
    try:
        test = outbound.message_send_test_in_app(draft=draft, contact=contact, sender=request.user)
    except ValidationError as error:
        _report_problems(request, error)
        return
    skipped = test.deliveries.filter(state=MessageDelivery.State.SKIPPED).values_list("skip_reason", flat=True).first()
    if skipped:
        messages.warning(
            request,
            f"Not shown to {contact_display_name(contact)}: {skipped}. The real send skips them the same way; "
            "in-app messages need the contact's marketing consent unless the website's marketing basis is "
            "legitimate interest (Websites → the website).",
        )
        return
    messages.success(
        request,
        f"Test sent to {contact_display_name(contact)}: their messenger shows it, marked as a test, on their next "
        "page view. It is not part of the real send.",
    )


def _outbound_step(request: HttpRequest) -> str:
    """Which button of the compose → preview → send flow was pressed."""
    for step in ("send", "test", "edit"):
        if f"_{step}" in request.POST:
            return step
    return "preview"


class Sent(NamedTuple):
    """A message the flow sent, and how many of its recipients can get it (the preview's button said so)."""

    message: Message
    reaching: int


def _sent_said(sent: Sent) -> str:
    """The confirmation of a send, as the preview's button said it ("Send: 1 of 2 will get it"), not the whole
    audience (new-user walk): the Messages page's and the contact list's alike."""
    message, reaching = sent
    recipients = ngettext("%(count)d contact", "%(count)d contacts", message.recipients_count) % {
        "count": message.recipients_count
    }
    if reaching == message.recipients_count:
        return f"“{message}” is being sent to {recipients}."
    return f"“{message}” is being sent: {reaching} of {recipients} will get it (its stats say why not the others)."


def _reaching(audience: Any, channel: str) -> int:
    """Who of the audience the message can reach on its channel (the rest are skipped, with the reason, in its stats)."""
    return audience.reachable_by_email if channel == Message.Channel.EMAIL else audience.reachable_in_app


def _outbound_flow(
    request: HttpRequest, model_admin: admin.ModelAdmin, *, form: ComposeForm, audience_contacts: Any,
    audience_label: str, send: Callable[[outbound.MessageDraft, str | None, int | None], Message],
    action_url: str, hidden: list[tuple[str, str]], back_to_contacts: bool, compose_title: str = "New message",
) -> HttpResponse | Sent:  # fmt: skip
    """Compose, preview for a real recipient with the audience count, test to oneself, confirm: one
    flow for the Messages page and the contacts' action. Returns the message once it was sent."""
    common = {
        **model_admin.admin_site.each_context(request), "opts": model_admin.opts, "form": form,
        "action_url": action_url, "hidden": hidden, "back_to_contacts": back_to_contacts,
    }  # fmt: skip

    def compose() -> HttpResponse:
        context = {**common, "title": compose_title, "placeholder_help": PLACEHOLDER_HELP,
                   "fallback_example": FALLBACK_EXAMPLE}  # fmt: skip
        return TemplateResponse(request, "admin/conversations/message/compose.html", context)

    step = _outbound_step(request) if form.is_bound else "compose"
    if step in ("compose", "edit"):
        return compose()
    if not form.is_valid():
        # Every problem at once: the draft's own (subject, placeholders…) next to the form's (no tag…).
        try:
            outbound.message_draft_clean(
                channel=form.data.get("channel"), subject=form.data.get("subject"), body=form.data.get("body")
            )
        except ValidationError as error:
            form.add_service_error(
                ValidationError({k: v for k, v in error.message_dict.items() if k not in form.errors})
            )
        return compose()
    data = form.cleaned_data
    try:
        draft = outbound.message_draft_clean(channel=data["channel"], subject=data["subject"], body=data["body"])
    except ValidationError as error:
        form.add_service_error(error)
        return compose()
    audience = selectors.message_audience(contacts=audience_contacts)
    if not audience.count:
        form.add_error(None, "Nobody to send to: nobody has this tag, or no contact has these ids.")
        return compose()
    if step == "send":
        expected = int_or_none(request.POST.get("expected_recipients"), minimum=0)
        try:
            return Sent(send(draft, request.POST.get("idempotency_key") or None, expected),
                        _reaching(audience, draft.channel))  # fmt: skip
        except ValidationError as error:
            _report_problems(request, error)
    by_pk = {contact.pk: contact for contact in audience.sample}
    preview_contact = by_pk.get(int_or_none(request.POST.get("preview_contact")) or 0, audience.sample[0])
    is_email = draft.channel == Message.Channel.EMAIL
    teammate_email = getattr(request.user, "email", "") or ""
    test_contact = request.POST.get("test_contact", teammate_email) if not is_email else ""
    if step == "test" and is_email:
        try:
            address = outbound.message_send_test(draft=draft, contact=preview_contact, sender=request.user)
        except ValidationError as error:
            _report_problems(request, error)
        except OSError:  # smtplib's errors are OSErrors
            messages.error(request, "The test could not be sent: the mail server did not take it. Try again later.")
        else:
            messages.success(request, f"Test sent to {address}, filled in for {preview_contact}.")
    elif step == "test":
        _in_app_test(request, draft=draft, reference=test_contact)
    context = {
        **common, "title": "Preview and send", "audience": audience, "audience_label": audience_label,
        "preview_contact": preview_contact, "is_email": is_email, "test_contact": test_contact,
        # Who will get it (the button says so: "0 of whom will see it" above, and "Send to 1 contact" was a lie).
        "reaching": _reaching(audience, draft.channel),
        "rendered": outbound.message_preview(draft=draft, contact=preview_contact, sender=request.user),
        "sender_name": teammate_display_name(request.user), "teammate_email": teammate_email,
        "from_email": settings.DEFAULT_FROM_EMAIL,  # as the email's From says it (new-user walk: it said the teammate)
        "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
    }  # fmt: skip
    return TemplateResponse(request, "admin/conversations/message/preview.html", context)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "channel", "audience", "recipients_count", "state", "sender_name", "created_at"]
    list_filter = ["channel", "state", "is_test"]
    list_select_related = [f"sender__{PROFILE}"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="Sender", ordering="sender")
    def sender_name(self, message: Message) -> str:
        return teammate_display_name(message.sender) if message.sender_id else "—"

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """Compose → preview for a real recipient (with the count) → optional test to oneself → send."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = MessageComposeForm(request.POST if request.method == "POST" else None)
        valid = form.is_bound and form.is_valid()
        tag = form.cleaned_data.get("tag") if valid else None
        segment = form.cleaned_data.get("segment") if valid and not tag else None
        ids = form.cleaned_data.get("contact_id_list", []) if valid and not (tag or segment) else None
        audience_contacts = selectors.message_audience_contacts(tag=tag, segment=segment, contact_ids=ids)

        def send(draft: outbound.MessageDraft, key: str | None, expected: int | None) -> Message:
            return services.message_send(
                sender=request.user, channel=draft.channel, subject=draft.subject, body=draft.body, tag=tag,
                segment=segment, contact_ids=ids, idempotency_key=key, expected_recipients=expected,
            )  # fmt: skip

        label = f"Tag “{tag.name}”" if tag else f"Segment “{segment.name}”" if segment else "Contacts by id"
        result = _outbound_flow(
            request, self, form=form, audience_contacts=audience_contacts, send=send, hidden=[],
            audience_label=label, action_url=request.path,
            back_to_contacts=False,
        )  # fmt: skip
        if isinstance(result, HttpResponse):
            return result
        self.message_user(request, _sent_said(result), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:conversations_message_change", args=[result.message.pk]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """A sent message, read-only: its delivery stats and a paged list of who got, opened, clicked it."""
        message = self.get_object(request, unquote(object_id))
        if message is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, message):
            raise PermissionDenied
        if request.method == "POST":
            self.message_user(request, "A sent message cannot be changed; write a new message instead.",
                              messages.WARNING)  # fmt: skip
            return HttpResponseRedirect(request.path)
        names = selectors.message_delivery_filter_names(message=message)
        show = request.GET.get("show") if request.GET.get("show") in names else "all"
        stats = selectors.message_delivery_stats(message=message)
        pages = max(1, -(-stats[show] // DELIVERIES_PER_PAGE))
        page = min(int_or_none(request.GET.get("p"), maximum=10**9) or 1, pages)
        deliveries = selectors.message_deliveries_page(
            message=message, show=show, offset=(page - 1) * DELIVERIES_PER_PAGE, limit=DELIVERIES_PER_PAGE
        )
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": f"Sent message: {message}",
            "message": message, "sender_name": teammate_display_name(message.sender),
            "is_email": message.channel == Message.Channel.EMAIL, "show": show, "page": page, "pages": pages,
            "filters": [(name, DELIVERY_FILTER_LABELS[name], stats[name]) for name in names],
            "deliveries": deliveries,
        }  # fmt: skip
        return TemplateResponse(request, "admin/conversations/message/sent.html", context)


SEND_MESSAGE_PERMISSION = "conversations.add_message"


@admin.action(description="Send a message to selected contacts")
def send_message_to_contacts(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
    """Compose an in-app or email message for the selected contacts, preview it, then queue it."""
    if not request.user.has_perm(SEND_MESSAGE_PERMISSION):
        raise PermissionDenied
    form = ComposeForm(request.POST if request.POST.get("compose") else None)
    hidden = [
        (admin.helpers.ACTION_CHECKBOX_NAME, pk) for pk in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
    ]
    hidden += [("select_across", request.POST.get("select_across", "0")), ("action", "send_message_to_contacts"),
               ("compose", "yes")]  # fmt: skip

    def send(draft: outbound.MessageDraft, key: str | None, expected: int | None) -> Message:
        return services.message_send(
            sender=request.user, channel=draft.channel, subject=draft.subject, body=draft.body,
            contact_ids=list(queryset.values_list("pk", flat=True)[:100_000]), idempotency_key=key,
            expected_recipients=expected,
        )  # fmt: skip

    count = queryset.count()
    selected = ngettext("%(count)d selected contact", "%(count)d selected contacts", count) % {"count": count}
    result = _outbound_flow(
        request, model_admin, form=form, audience_contacts=queryset, send=send, hidden=hidden,
        audience_label="Selected contacts", action_url=f"?{request.GET.urlencode()}", back_to_contacts=True,
        compose_title=f"Send a message to {selected}",
    )  # fmt: skip
    if isinstance(result, HttpResponse):
        return result
    model_admin.message_user(request, _sent_said(result), messages.SUCCESS)
    return None
