"""The privacy audit log: read-only, it records every export and erasure."""

from django.contrib import admin

from common.read_only_admin import ReadOnlyAdmin
from contacts.models import PrivacyAuditEntry


@admin.register(PrivacyAuditEntry)
class PrivacyAuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "source", "contact_id", "actor"]
    list_filter = ["action", "source"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False
