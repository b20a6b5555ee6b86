"""An admin for records the application writes (history, audit, runs): teammates read them, never edit them."""

from typing import Any

from django.http import HttpRequest

from common.read_replica import ReplicaListAdmin


class ReadOnlyAdmin(ReplicaListAdmin):
    """Listed (from the read replica when there is one) and shown; never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
