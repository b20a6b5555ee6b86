"""The demo banner says where demo mail goes (it was printed nowhere, buried in the log)."""

from ops.demo import demo_banner


def test_the_banner_names_the_folder_demo_mail_is_written_to(settings, tmp_path):
    settings.PARLEY_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    assert f"  Mail:      written to {tmp_path / 'mail'}/ (one file per send), not sent" in demo_banner()


def test_the_banner_says_console_mail_is_in_the_log(settings):
    settings.PARLEY_EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert any("printed in this log" in line for line in demo_banner())
