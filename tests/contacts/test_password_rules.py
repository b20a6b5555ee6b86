"""Passwords long enough but plain (contacts/password_rules.py), refused wherever a password is set."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError


@pytest.mark.parametrize(
    "password",
    [
        " " * 15, "\t" * 15, "\u00a0" * 15, "\u200b" * 15, "a" * 15, "aaaaaAAAAAaaaaa", "1212121212121212",
        "passwordpasswordpassword", "newuser0newuser0", "abc abc abc abc abc", "x\u200by\u200b" * 8,
    ],
)  # fmt: skip
def test_a_long_but_plain_password_is_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


@pytest.mark.parametrize(
    "password", ["quiet-harbour-lantern-77", "lamp shop evening 2026", "correct-horse-battery", "Ünïcödé-pässwörd-9"]
)
def test_a_passphrase_passes(password):
    validate_password(password)


@pytest.mark.parametrize("password", ["password" + "\u200b" * 7, "1234567890" + "\u00ad" * 5])
def test_invisible_characters_do_not_count_towards_the_length(password):
    with pytest.raises(ValidationError, match="too short once its invisible characters"):
        validate_password(password)


def test_a_short_password_is_told_so_once():
    """A short password without invisible characters also got "too short once its invisible characters are left
    out": two errors for one fault, the second about something it did not hold."""
    with pytest.raises(ValidationError) as refused:
        validate_password("lamp-shop-9")
    assert [m for m in refused.value.messages if "too short" in m] == [
        "This password is too short. It must contain at least 15 characters."
    ]
