"""The demo that `make run` sets up: its names (the website's is `widget.selectors.DEMO_WEBSITE_NAME`, which
the demo pages serve) and the banner that tells a new user where to go."""

from django.conf import settings

DEMO_USERNAME = "admin"
DEMO_TEAMMATE_NAME = "Sam"  # a person; the website (any name) is said by the messenger, not the name


def demo_banner(*, app_id: str | None = None) -> list[str]:
    """What `make run` prints, after set-up and again once the server answers."""
    base = settings.PUBLIC_URL
    password_file = settings.VAR_DIR / "demo-admin-password"
    password = password_file.read_text().strip() if password_file.exists() else "(set earlier; see createsuperuser)"
    lines = [
        f"  Admin:     {base}/admin/   login: {DEMO_USERNAME}   password: {password}",
        f"             (the password is saved in {password_file})",
        f"  Demo page: {base}/demo/" + (f"    (app id {app_id})" if app_id else ""),
    ]
    if not settings.PARLEY_DEMO_PAGES:
        lines.append("             served when PARLEY_DEMO_PAGES=true (`make run` sets it)")
    lines.append(f"  API docs:  {base}/api/docs/")
    if settings.PARLEY_EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
        lines.append(f"  Mail:      written to {settings.EMAIL_FILE_PATH}/ (one file per send), not sent")
    elif settings.PARLEY_EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":
        lines.append("  Mail:      printed in this log (console backend), not sent; set EMAIL_URL to send")
    return lines
