"""Every cookie and storage key the widget sets in a visitor's browser: the one list the cookie
declaration (privacy.cookie_declaration) is generated from.

The loader (widget/js/parley.js) writes the cookies with `cookie(kind, value, days)`, the panel (widget/js/panel.js) its
sessionStorage key and one session cookie; tests/privacy/test_documents.py fails when a `cookie("…", …, days)` call
there is not declared here with the same lifetime, or when a key of the panel is not, and the browser journeys compare
the declaration with what a real Chromium session holds.
"""

from dataclasses import dataclass

COOKIE_PREFIX = "parley"


@dataclass(frozen=True)
class WidgetStorageKey:
    """One key the widget stores in the visitor's browser, on the site's own domain (first party)."""

    kind: str  # the loader's cookie(kind, …) argument
    storage: str  # "cookie", or "sessionStorage" (the tab's: gone when it closes); never localStorage
    days: int  # a cookie's lifetime (0: a session cookie, gone when the browser closes; 0 for sessionStorage)
    purpose: str  # which consent purpose it serves (docs/privacy.md): support or analytics
    category: str  # the cookie-policy category a CMP files it under
    description: str
    set_when: str

    def name(self, app_id: str) -> str:
        return f"{COOKIE_PREFIX}-{self.kind}-{app_id}"

    @property
    def session(self) -> bool:
        """A session cookie: gone when the browser closes (or as it restores its session, when it does)."""
        return self.storage == "cookie" and not self.days

    @property
    def duration(self) -> str:
        if self.storage != "cookie":
            return "until the browser tab is closed"
        return f"{self.days} days" if self.days else "until the browser is closed (a session cookie)"


WIDGET_STORAGE_KEYS = (
    WidgetStorageKey(
        kind="id",
        storage="cookie",
        days=270,
        purpose="analytics",
        category="analytics",
        description="Anonymous visitor id: recognises this browser across visits to count page views and "
        "sessions. Deleted on shutdown or when analytics consent is withdrawn.",
        set_when="Only with analytics allowed (the website's default, or the visitor's analytics consent).",
    ),
    WidgetStorageKey(
        kind="session",
        storage="cookie",
        days=7,
        purpose="support",
        category="strictly necessary",
        description="Signed messenger token: keeps the visitor's conversations with the support team "
        "across pages, and a refusal of analytics across pages (no identifier of its own is kept then). "
        "Deleted on shutdown.",
        set_when="When the visitor writes to support, with analytics allowed, or once the visitor refused "
        "analytics or their processing is restricted.",
    ),
    WidgetStorageKey(
        kind="draft",
        storage="sessionStorage",
        days=0,
        purpose="support",
        category="strictly necessary",
        description="Words the visitor wrote in the messenger and has not sent yet, the messages they sent that had "
        "not gone through (their words, without files), the conversation the messenger was last open on, and the time "
        "of the team's reply whose preview (above the launcher) the visitor put away, kept for the next page of this "
        "tab: the words go back into the composer there, the messages go again from there, the messenger opens on "
        "that conversation and that reply's preview stays away, for the contact who wrote them only. The words are "
        "deleted once put back and the messages once gone; all of it with the tab, on shutdown and on erasure where "
        "the messenger is loaded, and by the messenger of any other contact (a logout on a page where the messenger "
        "was never opened leaves them until then).",
        set_when="When a visitor with a messenger token leaves a page or a conversation with words or messages not "
        "sent, or puts a reply's preview away.",
    ),
    WidgetStorageKey(
        kind="kept",
        storage="cookie",
        days=0,
        purpose="support",
        category="strictly necessary",
        description="Names the browser tabs (a random id each, new on each page, with the minute it last saved) that "
        "keep messages the visitor sent and that had not gone through: the next page of such a tab loads the "
        "messenger to send them, also when no reply is awaited. Each tab removes its own id once its messages went "
        "(when it next saves what it keeps: the messenger closed, a conversation or the page left), or when its "
        "messenger finds them another visitor's; a messenger that loads drops ids older than a day (a tab closed with "
        "messages kept leaves its id).",
        set_when="When a visitor with a messenger token closes the messenger, leaves a conversation or leaves a page "
        "while messages they sent have not gone through.",
    ),
)
