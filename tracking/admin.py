from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from tracking import services
from tracking.models import Website


@admin.register(Website)
class WebsiteAdmin(admin.ModelAdmin):
    list_display = ["name", "app_id", "identity_verification", "tracking_mode", "created_at"]
    list_filter = ["identity_verification", "tracking_mode"]
    search_fields = ["name", "app_id"]
    readonly_fields = ["app_id", "snippet", "created_at", "updated_at"]
    fields = [
        "name", "app_id", "allowed_origins", "identity_verification", "identity_secret", "tracking_mode",
        "snippet", "created_at", "updated_at",
    ]  # fmt: skip

    @admin.display(description="Snippet to paste before </body>")
    def snippet(self, website: Website) -> str:
        if not website.pk:
            return "Save the website first."
        code = (
            f'<script>window.parleySettings = {{ app_id: "{website.app_id}" }};</script>\n'
            f'<script async src="{settings.PUBLIC_URL}/widget/{website.app_id}"></script>'
        )
        return format_html(
            '<textarea readonly rows="3" cols="90" onclick="this.select()">{}</textarea>'
            '<p class="help">Click to select, then copy.</p>',
            code,
        )

    def save_model(self, request: HttpRequest, obj: Website, form, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            services.website_update(website=Website.objects.get(pk=obj.pk), **fields)
        else:
            obj.pk = services.website_create(
                name=obj.name,
                allowed_origins=obj.allowed_origins,
                identity_verification=obj.identity_verification,
                tracking_mode=obj.tracking_mode,
            ).pk
