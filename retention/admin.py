"""Retention in the admin: the one policy row (with run-now buttons) and the read-only run log."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask

from common.admin_forms import ServiceValidatedForm
from common.read_only_admin import ReadOnlyAdmin
from retention import selectors, services, tasks
from retention.models import RetentionPolicy, RetentionRun


class RetentionPolicyForm(ServiceValidatedForm, forms.ModelForm):
    """The policy's rules, checked by the service that saves them (a refusal lands on its field)."""

    class Meta:
        model = RetentionPolicy
        fields = list(services.POLICY_WRITABLE_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        rules = {name: cleaned[name] for name in services.POLICY_WRITABLE_FIELDS if name in cleaned}
        self.validate_with(lambda: services.retention_policy_validate(policy=self.instance, fields=rules))
        return cleaned


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    form = RetentionPolicyForm
    change_form_template = "admin/retention/retentionpolicy/change_form.html"
    fieldsets = [
        (
            "Anonymous visitors (always on unless switched off)",
            {
                "fields": ["visitor_expiry_enabled", "visitor_ttl_days"],
                "description": "Visitors who never identified themselves or wrote to you are deleted, with "
                "every session, page view, event and conversation, once unseen for this long. Leads and users "
                "are never touched by this rule; a visitor who returns later starts as a new visitor.",
            },
        ),
        (
            "Optional rules (off while empty)",
            {
                "fields": [
                    "closed_conversation_ttl_days",
                    "tracking_ttl_days",
                    "tracking_keep_months",
                    "lead_ttl_days",
                ],
                "description": "Each rule runs daily from its own scheduled task; leave a field empty to keep "
                "that data for as long as the contact exists.",
            },
        ),
    ]
    readonly_fields = ["updated_at", "updated_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """There is one policy: the list goes straight to it."""
        policy = selectors.retention_policy_get()
        if policy._state.adding:
            services.retention_policy_update(actor=request.user)
        return HttpResponseRedirect(reverse("admin:retention_retentionpolicy_change", args=[1]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "recent_runs": list(selectors.retention_runs_recent(limit=5)),
            "schedule_url": reverse("admin:django_celery_beat_periodictask_changelist") + "?q=retention",
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: RetentionPolicy, form: Any, change: bool) -> None:
        services.retention_policy_update(
            actor=request.user, **{name: form.cleaned_data[name] for name in form.changed_data}
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path("run/", self.admin_site.admin_view(self.run_now_view), name="retention_run_now"),
            *super().get_urls(),
        ]

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        """Queue the expiry (or its dry run) now instead of waiting for the nightly schedule."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        dry_run = request.POST.get("dry_run") == "1"
        rules = request.POST.get("rules") == "1"
        if rules and not selectors.retention_optional_rules_on():
            self.message_user(
                request,
                "No optional rule is switched on: set one of its numbers of days (or months) above first.",
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:retention_retentionpolicy_change", args=[1]))
        task = tasks.apply_retention_rules if rules else tasks.expire_stale_visitors
        task.delay(dry_run=dry_run, trigger="admin")
        what = "dry run" if dry_run else "run"
        self.message_user(
            request, f"Queued a {what}; it appears under Retention runs when a worker picks it up.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:retention_retentionpolicy_change", args=[1]))


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "kind", "status", "dry_run", "trigger", "started_at", "finished_at", "batches", "contacts_deleted",
        "rows",
    ]  # fmt: skip
    list_filter = ["kind", "status", "dry_run", "trigger"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    readonly_fields = [
        "kind", "status", "dry_run", "trigger", "cutoff", "started_at", "heartbeat_at", "finished_at", "batches",
        "contacts_deleted", "counts_table", "error",
    ]  # fmt: skip
    exclude = ["counts"]

    @admin.display(description="rows deleted")
    def rows(self, run: RetentionRun) -> int:
        return run.rows_deleted

    @admin.display(description="rows per model")
    def counts_table(self, run: RetentionRun) -> str:
        if not run.counts:
            return "—"
        named = sorted((selectors.model_label_words(label), count) for label, count in run.counts.items())
        rows = format_html(
            "".join("<tr><td>{}</td><td style='text-align:right'>{}</td></tr>" for _ in named),
            *[value for name, count in named for value in (name, f"{count:,}")],
        )
        return format_html("<table>{}</table>", rows)


def _needs_change_permission(name: str) -> Any:
    """django-celery-beat's action `name`, declared with the change permission it lacks upstream."""
    upstream = getattr(beat_admin.PeriodicTaskAdmin, name)

    def action(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> Any:
        return upstream(model_admin, request, queryset)

    action.__name__ = name
    return admin.action(description=upstream.short_description, permissions=["change"])(action)


class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """The beat schedule (retention's daily run lives there): enabling, disabling or running needs change."""

    enable_tasks = _needs_change_permission("enable_tasks")
    disable_tasks = _needs_change_permission("disable_tasks")
    toggle_tasks = _needs_change_permission("toggle_tasks")
    run_tasks = _needs_change_permission("run_tasks")


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
