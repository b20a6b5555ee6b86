"""Outbound messages: the message admin and the contacts changelist's "send a message" action."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from contacts.models import Contact, Tag
from conversations import services
from conversations.models import Message
from ops.admin_forms import ServiceValidatedForm, report_validation_error
from ops.pagination import EstimatedCountPaginator
from ops.parsing import int_or_none


class ComposeForm(ServiceValidatedForm, forms.Form):
    channel = forms.ChoiceField(choices=Message.Channel.choices, initial=Message.Channel.EMAIL)
    subject = forms.CharField(max_length=255, required=False, help_text="Required for email.")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 80}), max_length=10_000,
                           help_text="Plain text. Links in emails are tracked; an unsubscribe link is added.")  # fmt: skip


class MessageAdminForm(ServiceValidatedForm, forms.ModelForm):
    tag = forms.ModelChoiceField(queryset=Tag.objects.order_by("name"), required=False,
                                 help_text="Send to every contact with this tag.")  # fmt: skip
    contact_ids = forms.CharField(required=False, label="Contact ids", help_text="Or a comma-separated list of ids.")

    class Meta:
        model = Message
        fields = ["channel", "subject", "body"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        raw_ids = [x.strip() for x in (cleaned.get("contact_ids") or "").split(",") if x.strip()]
        contact_ids = [int_or_none(x) for x in raw_ids]
        if None in contact_ids:
            self.add_error("contact_ids", "Only numeric contact ids, separated by commas.")
        cleaned["contact_id_list"] = [x for x in contact_ids if x is not None]
        if not cleaned.get("tag") and not cleaned["contact_id_list"]:
            self.add_error("tag", "Choose a tag or enter contact ids.")
        return cleaned


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    form = MessageAdminForm
    list_display = ["__str__", "channel", "audience", "recipients_count", "state", "sender", "created_at"]
    list_filter = ["channel", "state"]
    list_select_related = ["sender"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ["audience", "recipients_count", "state", "sender", "created_at", "sent_at", "delivery_stats"]

    def get_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        if obj is None:
            return ["channel", "subject", "body", "tag", "contact_ids"]
        return ["channel", "subject", "body", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        return ["channel", "subject", "body", *self.readonly_fields] if obj else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None and request.method == "POST" else super().has_change_permission(request, obj)

    @admin.display(description="Deliveries")
    def delivery_stats(self, message: Message) -> str:
        from django.db.models import Count, Q

        stats = message.deliveries.aggregate(
            sent=Count("pk", filter=Q(state="sent")), skipped=Count("pk", filter=Q(state="skipped")),
            failed=Count("pk", filter=Q(state="failed")), opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
            unsubscribed=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
        )  # fmt: skip
        return ", ".join(f"{value} {name}" for name, value in stats.items())

    def save_model(self, request: HttpRequest, obj: Message, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        tag = data.get("tag")
        message = services.message_send(
            sender=request.user, channel=data["channel"], subject=data.get("subject", ""), body=data["body"],
            tag=tag, contact_ids=None if tag else data["contact_id_list"],
        )  # fmt: skip
        # The admin's "was added" message names `obj`: give it what was sent (the form never filled it).
        obj.pk, obj.channel, obj.subject, obj.body = message.pk, message.channel, message.subject, message.body

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as error:
            report_validation_error(request, error)
            return HttpResponseRedirect(request.path)


# Who may send: the contact list offers the action only with it (registered in conversations/integration.py).
SEND_MESSAGE_PERMISSION = "conversations.add_message"


@admin.action(description="Send a message to selected contacts")
def send_message_to_contacts(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
    """Compose an in-app or email message for the selected contacts, then queue it."""
    if not request.user.has_perm(SEND_MESSAGE_PERMISSION):
        raise PermissionDenied
    form = ComposeForm(request.POST if request.POST.get("compose") else None)
    if form.is_bound and form.is_valid():
        try:
            message = services.message_send(
                sender=request.user, channel=form.cleaned_data["channel"], subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"], contact_ids=list(queryset.values_list("pk", flat=True)[:100_000]),
                idempotency_key=request.POST.get("idempotency_key") or None,
            )  # fmt: skip
        except ValidationError as error:
            form.add_service_error(error)
        else:
            model_admin.message_user(
                request, f"Message queued for {message.recipients_count} contact(s).", messages.SUCCESS
            )
            return None
    import uuid

    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Send a message",
        "form": form,
        "count": queryset.count(),
        "selected_ids": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
        "query_string": request.GET.urlencode(),
    }
    return TemplateResponse(request, "admin/conversations/compose_message.html", context)
