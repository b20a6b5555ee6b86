"""Admin: websites (with a 30-day page view chart) and read-only sessions, page views and events."""

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from common.attachment_types import ATTACHMENT_TYPES, DEFAULT_ATTACHMENT_MAX_MB
from common.pagination import EstimatedCountPaginator
from common.read_only_admin import ReadOnlyAdmin
from tracking import selectors, services
from tracking.models import Event, EventSummary, PageView, RejectedAttribute, WebSession, Website
from tracking.snippet import install_snippet

# Shown whenever a website's identity verification is off: what the owner gives up.
# The analytics default against the basis the record of processing states for it (new websites start this way).
ANALYTICS_BEFORE_CONSENT = (
    "{name} records page views before any consent (analytics default: Full tracking), while its record of "
    "processing says analytics rests on consent. Set the analytics default to “Support only until consent”, or "
    "the analytics legal basis to the one you assessed."
)
VERIFICATION_OFF_RISK = (
    "Identity verification is off for {name}: anyone can type Intercom('boot', {{user_id: '…'}}) or an "
    "email in a browser console on this site and read that user's conversations. Turn it back on unless "
    "this site has no signed-in users; with it on, the site sends user_hash (HMAC-SHA256 of the user_id "
    "with the identity secret, computed on its server)."
)


class WebsiteForm(forms.ModelForm):
    """Allowed origins as one origin per line, checked and normalised by the service's rules."""

    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="One origin per line, e.g. https://shop.example.com (scheme, host and port; no path).",
    )
    # Only the catalog's types can be chosen (HTML, scripts and executables are not in it).
    attachment_types = forms.MultipleChoiceField(
        label="Allowed attachment types",
        required=False,
        choices=[(kind.mime, kind.label) for kind in ATTACHMENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="Files visitors and teammates may send, recognised by their content (a renamed file is "
        "recognised for what it is). Images are shown inline; every other file is a download. None: no files.",
    )

    class Meta:
        model = Website
        fields = [
            "name", "allowed_origins", "identity_verification", "tracking_mode",
            "marketing_basis", "support_basis", "analytics_basis", "track_bots", "ask_email_after_seconds",
            "email_unread_replies_after_minutes", "conversation_ratings_enabled", "attachment_max_mb", "attachment_types",
        ]  # fmt: skip
        # Both delays say their unit in the label and in the box (one was in seconds, the other in minutes).
        labels = {
            "ask_email_after_seconds": "Ask for an email after (in SECONDS)",
            "email_unread_replies_after_minutes": "Email unread replies after (in MINUTES)",
        }
        help_texts = {
            "ask_email_after_seconds": "Seconds, e.g. 120 = 2 minutes. When a visitor without an email has written "
            "and no teammate has answered for this long, the messenger asks for an email, so the answer can reach "
            "them after they leave. Empty: never.",
            "email_unread_replies_after_minutes": "Minutes, e.g. 5. A teammate's reply in the messenger that the "
            "contact (with an email) has not read after this long is emailed to them; their answer by email lands "
            "in the same conversation. Empty: never.",
        }
        widgets = {
            "ask_email_after_seconds": forms.NumberInput(attrs={"placeholder": "seconds", "min": 0}),
            "email_unread_replies_after_minutes": forms.NumberInput(attrs={"placeholder": "minutes", "min": 0}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["allowed_origins"] = "\n".join(self.instance.allowed_origins or [])
        if "attachment_max_mb" in self.fields:
            self.fields["attachment_max_mb"].required = False  # empty: the default

    def clean_attachment_max_mb(self) -> int:
        return self.cleaned_data["attachment_max_mb"] or DEFAULT_ATTACHMENT_MAX_MB

    def clean_allowed_origins(self) -> list[str]:
        lines = self.cleaned_data["allowed_origins"].splitlines()
        try:
            return services.website_origins_clean(origins=lines)
        except ValidationError as error:
            raise forms.ValidationError(error.message_dict["allowed_origins"]) from None


@admin.register(Website)
class WebsiteAdmin(admin.ModelAdmin):
    form = WebsiteForm
    list_display = ["name", "app_id", "identity_verification", "tracking_mode", "marketing_basis", "created_at"]
    list_filter = ["identity_verification", "tracking_mode", "marketing_basis"]
    search_fields = ["name", "app_id"]
    readonly_fields = [
        "app_id", "verification_risk", "identity_secret_shown", "snippet", "privacy_documents", "page_views_chart",
        "created_at", "updated_at",
    ]  # fmt: skip
    fields = [
        "name", "app_id", "allowed_origins", "identity_verification", "identity_secret_shown", "tracking_mode",
        "marketing_basis", "support_basis", "analytics_basis", "track_bots", "ask_email_after_seconds",
        "email_unread_replies_after_minutes", "conversation_ratings_enabled", "attachment_max_mb",
        "attachment_types", "snippet",
        "privacy_documents", "page_views_chart", "created_at", "updated_at",
    ]  # fmt: skip
    # The app id and the secret are made when the website is saved: the add form does not show
    # values that would then be thrown away.
    add_fields = ["name", "allowed_origins", "identity_verification", "tracking_mode", "marketing_basis"]

    def get_fields(self, request: HttpRequest, obj: Website | None = None) -> list[str]:
        if obj is None:
            return self.add_fields
        fields = list(self.fields)
        if self._verification_off(obj):
            fields.insert(fields.index("identity_verification") + 1, "verification_risk")
        if not self.has_change_permission(request, obj):
            # The secret signs user_hash: whoever reads it can sign in as any user of this website.
            fields.remove("identity_secret_shown")
            # A reader's page shows each field as stored: the two lists read as JSON (a walk), so in words instead.
            fields[fields.index("allowed_origins")] = "allowed_origins_shown"
            fields[fields.index("attachment_types")] = "attachment_types_shown"
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Website | None = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, *self.READER_FIELDS] if obj is not None else readonly

    READER_FIELDS = ("allowed_origins_shown", "attachment_types_shown")

    @admin.display(description="Allowed origins")
    def allowed_origins_shown(self, website: Website) -> str:
        return format_html_join(format_html("<br>"), "{}", ((origin,) for origin in website.allowed_origins)) or "—"

    @admin.display(description="Allowed attachment types")
    def attachment_types_shown(self, website: Website) -> str:
        labels = {kind.mime: kind.label for kind in ATTACHMENT_TYPES}
        return ", ".join(labels.get(mime, mime) for mime in website.attachment_types) or "None: no files."

    @admin.display(description="Identity secret")
    def identity_secret_shown(self, website: Website) -> str:
        """Read-only (a typo here would break every sign-in); a new one only through the confirmed rotation."""
        if not website.pk:
            return "-"
        rotate = reverse("admin:tracking_website_rotate_secret", args=[website.pk])
        return format_html(
            '<code id="parley-identity-secret" style="user-select:all;overflow-wrap:anywhere">{}</code> '
            '<button type="submit" class="button" formaction="{}" formmethod="post" formnovalidate '
            'id="parley-rotate-secret" data-confirm="{}">Rotate secret…</button>'
            '<p style="margin:4px 0 0;padding:0;color:var(--body-quiet-color);font-size:0.75rem">Your server signs '
            "user_hash with it. Rotating makes a new one at once: signed-in users stay anonymous until your server "
            "uses the new secret.</p>"
            "<script>document.getElementById('parley-rotate-secret').addEventListener('click', function (e) {{"
            " if (!window.confirm(this.dataset.confirm)) e.preventDefault(); }});</script>",
            website.identity_secret,
            rotate,
            f"Rotate the identity secret of {website.name}? Every user_hash signed with the current secret stops "
            "working at once, until your server uses the new one.",
        )

    def get_urls(self) -> list[Any]:
        rotate = path(
            "<int:website_id>/rotate-secret/",
            self.admin_site.admin_view(self.rotate_secret_view),
            name="tracking_website_rotate_secret",
        )
        return [rotate, *super().get_urls()]

    def rotate_secret_view(self, request: HttpRequest, website_id: int) -> HttpResponse:
        """POST only, with change permission: a new identity secret for the website, then back to its page."""
        website = Website.objects.filter(pk=website_id).first()
        if website is None:
            raise Http404("No such website.")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, website):
            raise PermissionDenied
        services.website_identity_secret_rotate(website=website)
        self.message_user(request, f"New identity secret for {website.name}: give it to your server.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:tracking_website_change", args=[website.pk]))

    @admin.display(description="Snippet to paste before </body>")
    def snippet(self, website: Website) -> str:
        if not website.pk:
            return "Save the website first."
        code = install_snippet(app_id=website.app_id, base_url=settings.PUBLIC_URL)
        return format_html(
            # Long lines wrap (wrap="off" cut them at the box's edge); the copied text is the same.
            '<textarea readonly rows="{}" style="width:48em;max-width:100%;font-family:monospace;'
            'white-space:pre-wrap;overflow-wrap:anywhere" '
            'onclick="this.select()">{}</textarea>'
            # Not .help: the admin indents that by a label's width, which a read-only value has not.
            '<p style="margin:4px 0 0;padding:0;color:var(--body-quiet-color);font-size:0.75rem">'
            "Click to select, then copy.</p>",
            code.count("\n") + 3,
            code,
        )

    @admin.display(description="Privacy documents")
    def privacy_documents(self, website: Website) -> str:
        if not website.pk:
            return "-"
        html = reverse("admin:privacy_cookie_declaration", args=[website.pk, "html"])
        json_url = reverse("admin:privacy_cookie_declaration", args=[website.pk, "json"])
        record = reverse("admin:privacy_record_of_processing", args=["md"])
        return format_html(
            'Cookie declaration: <a href="{}">HTML snippet</a> · <a href="{}">JSON</a> (for your consent platform)'
            ' · <a href="{}">Record of processing activities</a> (GDPR Art. 30)',
            html,
            json_url,
            record,
        )

    @admin.display(description="Page views per day, last 30 days")
    def page_views_chart(self, website: Website) -> str:
        if not website.pk:
            return "-"
        days = selectors.website_page_views_per_day(website=website)
        context = {"days": days, "peak": max(views for _, views in days) or 1, "total": sum(v for _, v in days)}
        return render_to_string("admin/tracking/page_views_chart.html", context)

    @admin.display(description="Risk")
    def verification_risk(self, website: Website) -> str:
        return format_html('<strong class="parley-risk">{}</strong>', VERIFICATION_OFF_RISK.format(name=website.name))

    @staticmethod
    def _verification_off(website: Website) -> bool:
        return website.identity_verification == Website.IdentityVerification.OFF

    def _warn_verification_off(self, request: HttpRequest, website: Website) -> None:
        self.message_user(request, VERIFICATION_OFF_RISK.format(name=website.name), messages.WARNING)

    def save_model(self, request: HttpRequest, obj: Website, form, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            services.website_update(website=Website.objects.get(pk=obj.pk), **fields)
        else:
            created = services.website_create(
                name=obj.name,
                allowed_origins=obj.allowed_origins,
                identity_verification=obj.identity_verification,
                tracking_mode=obj.tracking_mode,
                marketing_basis=obj.marketing_basis,
            )
            # The admin's "was added" message names `obj`: it must carry the saved app id, not the form's.
            obj.pk, obj.app_id, obj.identity_secret = created.pk, created.app_id, created.identity_secret
        if self._verification_off(obj) and "identity_verification" in form.changed_data:
            self._warn_verification_off(request, obj)
        saved = Website.objects.get(pk=obj.pk)
        if (saved.tracking_mode, saved.analytics_basis) == (Website.TrackingMode.FULL, Website.AnalyticsBasis.CONSENT):
            self.message_user(request, ANALYTICS_BEFORE_CONSENT.format(name=saved.name), messages.WARNING)
        if change and fields:
            # Each server process keeps the website in memory for a while (selectors.website_for_app_id).
            self.message_user(
                request,
                f"Widgets on every page follow this change within {selectors.WEBSITE_CACHE_SECONDS} seconds.",
                messages.INFO,
            )


@admin.register(RejectedAttribute)
class RejectedAttributeAdmin(admin.ModelAdmin):
    """Custom attributes websites sent and Parley refused (the rest of each ping was applied)."""

    list_display = ["name", "website", "count", "last_reason", "last_example", "last_at"]
    list_filter = ["website"]
    list_select_related = ["website"]
    search_fields = ["name"]
    readonly_fields = [*list_display, "first_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyHistoryAdmin(ReadOnlyAdmin):
    """History rows are written by the widget and deleted by retention or GDPR erase, never by hand."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    date_hierarchy = "created_at"
    raw_id_fields = ["contact"]

    @admin.display(description="Contact")
    def contact_link(self, row: Any) -> str:
        url = reverse("admin:contacts_contact_change", args=[row.contact_id])
        return format_html('<a href="{}">{}</a>', url, row.contact)


@admin.register(WebSession)
class WebSessionAdmin(ReadOnlyHistoryAdmin):
    date_hierarchy = "started_at"
    list_display = [
        "started_at", "contact_link", "page_views_count", "landing_url", "referrer", "utm_source", "browser", "os",
        "country",
    ]  # fmt: skip
    list_select_related = ["contact"]
    list_filter = ["website"]
    ordering = ["-started_at", "-id"]


@admin.register(PageView)
class PageViewAdmin(ReadOnlyHistoryAdmin):
    list_display = ["created_at", "contact_link", "url", "title", "referrer"]
    list_select_related = ["contact"]
    ordering = ["-created_at", "-id"]
    raw_id_fields = ["contact", "session"]


@admin.register(Event)
class EventAdmin(ReadOnlyHistoryAdmin):
    list_display = ["created_at", "contact_link", "name", "metadata_shown"]
    list_select_related = ["contact"]
    search_fields = ["=name"]
    search_help_text = "Exact event name."
    ordering = ["-created_at", "-id"]

    @admin.display(description="Metadata")
    def metadata_shown(self, event: Event) -> str:
        """Each key and its value, as text ("source: demo; items: 3"), where the list showed the stored JSON (a walk)."""
        pairs = sorted((event.metadata or {}).items())  # by key: PostgreSQL's jsonb keeps no order of its own
        return (
            "; ".join(f"{key}: {value if isinstance(value, str) else json.dumps(value)}" for key, value in pairs) or "—"
        )


@admin.register(EventSummary)
class EventSummaryAdmin(ReadOnlyHistoryAdmin):
    date_hierarchy = "last_at"
    list_display = ["name", "contact_link", "count", "first_at", "last_at"]
    list_select_related = ["contact"]
    search_fields = ["=name"]
    search_help_text = "Exact event name."
    ordering = ["-last_at"]
