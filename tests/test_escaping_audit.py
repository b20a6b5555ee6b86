"""Standing audit of the places where text becomes markup or script without Django's escaping.

Each construct that can turn outside text into HTML or script is listed here with the places that
use it on purpose; a new use fails this test until someone checks it and adds it (see
docs/security.md). The browser test tests/e2e/test_xss_browser.py proves the rendered result.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ["api", "config", "contacts", "conversations", "ops", "reports", "retention", "tracking", "widget"]
# path → how many times the construct may appear there, and why.
ALLOWED_MARK_SAFE = {"conversations/services/outbound.py": 1}  # _linkify: every piece escaped first
ALLOWED_INNER_HTML = {
    "widget/js/panel.js": 1,  # h(): the `html` attribute, given only constant SVG icons
    "widget/js/parley.js": 1,  # the launcher's constant SVG icon
}


def _files(pattern: str, folders: list[str]) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob(pattern) if "migrations" not in p.parts)


def _counts(regex: str, files: list[Path]) -> dict[str, int]:
    found = {}
    for path in files:
        count = len(re.findall(regex, path.read_text(encoding="utf-8")))
        if count:
            found[str(path.relative_to(ROOT))] = count
    return found


def test_html_templates_never_switch_escaping_off():
    templates = _files("*.html", ["templates", *APPS])
    assert templates
    assert _counts(r"\|\s*safe\b|\{%\s*autoescape\s+off", templates) == {}


def test_mark_safe_is_used_only_where_every_piece_was_escaped():
    assert _counts(r"\bmark_safe\(|\bSafeString\(", _files("*.py", APPS)) == ALLOWED_MARK_SAFE


def test_format_html_is_never_given_a_preformatted_string():
    # format_html escapes its arguments, not its format string: an f-string or .format() there is raw.
    python = _files("*.py", APPS)
    assert _counts(r"format_html\(\s*(f[\"']|[\"'][^\"']*[\"']\s*\.format|[\"'][^\"']*[\"']\s*%)", python) == {}


def test_help_texts_from_data_are_escaped():
    # Django renders help_text as HTML; the only one built from stored data is escaped.
    source = (ROOT / "contacts/admin/forms.py").read_text(encoding="utf-8")
    assert "help_text = escape(attribute.description)" in source
    assert _counts(r"help_text[\"']?\s*[:=]\s*[a-z_]+\.(description|label|name|body)\b", _files("*.py", APPS)) == {}


def test_widget_scripts_insert_text_only_as_text():
    scripts = _files("*.js", ["widget/js"])
    assert scripts
    assert _counts(r"\.innerHTML\s*=|insertAdjacentHTML|outerHTML\s*=|document\.write", scripts) == ALLOWED_INNER_HTML
    panel = (ROOT / "widget/js/panel.js").read_text(encoding="utf-8")
    # The constant icons (close, back, the greeting's team icon, the paperclip) are the only values ever
    # passed as `html`.
    assert set(re.findall(r"\bhtml:\s*([A-Za-z_]+)", panel)) == {"X", "BACK", "TEAM_ICON", "CLIP"}


def test_admin_scripts_insert_text_only_as_text():
    # The inbox's and the conversation page's own scripts (shortcuts, presence, @mentions, pickers) show
    # teammates' names, notes and macro names: as text nodes only.
    scripts = sorted((ROOT / "static" / "parley").rglob("*.js"))
    assert scripts
    assert _counts(r"\.innerHTML\s*=|insertAdjacentHTML|outerHTML\s*=|document\.write", scripts) == {}
