"""How the admin writes a visited page's address."""

from urllib.parse import urlsplit

PAGE_ADDRESS_PATH_CHARS = 50


def page_address(url: str) -> str:
    """A visited page as the admin shows it under its title (the conversation page, the contact's and the company's
    page views): the host in full, then as much of the path as fits. A visitor's ping writes the URL and the title:
    the link's text can say anything, titles repeat ("Product"), and a long address cut at a fixed length hid where it
    goes ("https://shop.example.com-login-…@evil.example/"); credentials before an "@" are not shown."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")  # an IPv6 address
    except ValueError:  # not a URL the ping would take: shown cut, as text
        return url[:PAGE_ADDRESS_PATH_CHARS]
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(rest) > PAGE_ADDRESS_PATH_CHARS:
        rest = rest[: PAGE_ADDRESS_PATH_CHARS - 1] + "…"
    return host + rest
