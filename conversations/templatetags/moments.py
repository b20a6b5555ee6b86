"""`{{ moment|short_moment }}`: a moment in a line of a conversation's page, as its live updates write it
(common.admin_display.short_moment)."""

import datetime as dt

from django import template

from common import admin_display

register = template.Library()


@register.filter
def short_moment(moment: dt.datetime | None) -> str:
    """The moment as "Mar 02, 14:30" in the teammate's time zone, with the year outside the current one; empty for none."""
    return admin_display.short_moment(moment) if moment else ""
