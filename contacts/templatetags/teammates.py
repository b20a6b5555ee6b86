"""`{{ user|teammate_name }}`: a teammate by their one name in any admin template (common.teammates)."""

from typing import Any

from django import template

from common.teammates import teammate_name as name_of

register = template.Library()


@register.filter
def teammate_name(teammate: Any) -> str:
    """The teammate's display name, else full name, else username; empty for none."""
    return name_of(teammate) if teammate is not None else ""
