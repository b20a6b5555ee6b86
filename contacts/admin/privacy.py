"""The privacy audit log: read-only, it records every export and erasure."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from contacts.models import PrivacyAuditEntry


@admin.register(PrivacyAuditEntry)
class PrivacyAuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "source", "contact_id", "actor"]
    list_filter = ["action", "source"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
