"""How the admin shows a long address in a narrow column, and a moment in a line of text."""

import datetime as dt
import re

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# A dot between two word characters (not one ending a sentence or the text).
_INNER_DOT = re.compile(r"(?<=\w)\.(?=\w)")


def breakable(text: str) -> SafeString:
    """`text` escaped, with a line-break opportunity (<wbr>) after each @ and before each inner dot. A long email
    address in a narrow column then wraps at its parts ("konstantinopoulou-smythe@" / "example-company" / ".com"),
    where the lists' overflow-wrap broke it anywhere ("exampl" / "e-company.com")."""
    return mark_safe(_INNER_DOT.sub("<wbr>.", escape(text).replace("@", "@<wbr>")))  # noqa: S308 - escaped above


def short_moment(moment: dt.datetime) -> str:
    """`moment` in the teammate's time zone as the inbox and the conversation page write it in a line: "Mar 02, 14:30"
    within the current year, with the year in any other ("Mar 02, 2027, 14:30"). A snooze into next year, and a
    message from last year, had read as this year's."""
    local = timezone.localtime(moment)
    return local.strftime("%b %d, %H:%M" if local.year == timezone.localtime().year else "%b %d, %Y, %H:%M")
