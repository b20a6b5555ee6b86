"""How the admin's lists show a long address in a narrow column."""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# A dot between two word characters (not one ending a sentence or the text).
_INNER_DOT = re.compile(r"(?<=\w)\.(?=\w)")


def breakable(text: str) -> SafeString:
    """`text` escaped, with a line-break opportunity (<wbr>) after each @ and before each inner dot. A long email
    address in a narrow column then wraps at its parts ("konstantinopoulou-smythe@" / "example-company" / ".com"),
    where the lists' overflow-wrap broke it anywhere ("exampl" / "e-company.com")."""
    return mark_safe(_INNER_DOT.sub("<wbr>.", escape(text).replace("@", "@<wbr>")))  # noqa: S308 - escaped above
