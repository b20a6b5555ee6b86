import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import ngettext

from api import services, webhooks
from api.models import ApiToken, WebhookDelivery, WebhookSubscription
from common.admin_deletion import ConcurrentDeletionAdmin
from common.pagination import EstimatedCountPaginator


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Teammates create and see tokens for themselves; only superusers for others. A raw token shows once."""

    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    empty_list_help = (
        "No API tokens yet. Add one to call the REST API (its shapes follow Intercom's, so their SDKs work): the token "
        "is shown once, when it is created, and acts with its teammate's rights."
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return ["user", "name"] if request.user.is_superuser else ["name"]
        return ["user", "name", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        # A token never changes hands: moving it to another teammate would hand them its holder's key.
        return self.readonly_fields if obj is None else ["user", *self.readonly_fields]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """A valid form creates the token and answers with its raw value, in this response only."""
        if request.method == "POST" and self.has_add_permission(request):
            form = self.get_form(request)(request.POST)
            if form.is_valid():
                owner = form.cleaned_data["user"] if request.user.is_superuser else request.user
                try:
                    token, raw = services.api_token_create(user=owner, name=form.cleaned_data["name"])
                except ValidationError as error:
                    self.message_user(request, "; ".join(error.messages), messages.ERROR)
                    return HttpResponseRedirect(request.path)
                self.log_addition(request, token, [{"added": {}}])
                context = {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "title": "New API token",
                    "token": token,
                    "raw_token": raw,
                }
                # Not a redirect with a message: messages are stored (cookie or session) until shown.
                return TemplateResponse(request, "admin/api/apitoken/created.html", context)
        return super().add_view(request, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        for token in queryset:
            services.api_token_revoke(token=token)
        self.message_user(request, "Revoked.", messages.SUCCESS)


class WebhookSubscriptionForm(forms.ModelForm):
    topics = forms.MultipleChoiceField(
        choices=[(topic, topic) for topic in webhooks.TOPICS], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ["url", "topics", "secret", "active"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("url"):
            try:
                webhooks.url_validate(cleaned["url"])
                webhooks.destination_check(cleaned["url"])
            except ValidationError as error:
                self.add_error("url", error.message_dict["url"])
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ConcurrentDeletionAdmin):
    form = WebhookSubscriptionForm
    list_display = ["url", "topic_list", "active", "created_at"]
    list_filter = ["active"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    @admin.display(description="Topics")
    def topic_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.topics)

    def get_fields(self, request: HttpRequest, obj: WebhookSubscription | None = None) -> list[str]:
        # The signing secret lets its holder forge deliveries: a read-only teammate does not see it.
        fields = list(super().get_fields(request, obj))
        return fields if self.has_change_permission(request, obj) else [f for f in fields if f != "secret"]

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form, change: bool) -> None:
        services.webhook_subscription_save(
            subscription=obj,
            url=form.cleaned_data["url"],
            topics=form.cleaned_data["topics"],
            active=form.cleaned_data["active"],
            secret=form.cleaned_data["secret"],
            actor=request.user,
        )

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        services.webhook_subscription_delete(subscription=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for subscription in queryset:
            services.webhook_subscription_delete(subscription=subscription)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only, with a retry action for failed deliveries."""

    list_display = ["created_at", "topic", "subscription", "status", "attempts", "last_status_code", "last_error"]
    list_filter = ["status", "topic"]
    list_select_related = ["subscription"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = ["retry"]
    readonly_fields = [
        "subscription", "topic", "notification_id", "status", "attempts", "last_status_code", "last_error",
        "created_at", "last_attempt_at", "delivered_at", "payload_pretty",
    ]  # fmt: skip
    exclude = ["payload"]

    @admin.display(description="Payload")
    def payload_pretty(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Sending again changes the delivery and posts to the outside: the model's change permission,
        # asked directly because the change form itself is off for everyone (the log is read-only).
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Send selected deliveries again", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset) -> None:
        count = services.webhook_deliveries_retry(delivery_ids=list(queryset.values_list("pk", flat=True)))
        queued = ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", count)
        self.message_user(request, queued % {"count": count}, messages.SUCCESS)
