from django.contrib import admin, messages
from django.http import HttpRequest

from api import services
from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return ["user", "name"] if obj is None else ["user", "name", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        token, raw = services.api_token_create(user=obj.user, name=obj.name)
        obj.pk = token.pk
        self.message_user(request, f"New token (shown only now): {raw}", messages.WARNING)
        return None

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        for token in queryset:
            services.api_token_revoke(token=token)
        self.message_user(request, "Revoked.", messages.SUCCESS)
