"""What Parley's management commands share: the `--batch-size N` option, checked the same way everywhere."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

MAX_BATCH_SIZE = 1_000_000


def add_batch_size_argument(parser: CommandParser, *, default: int, rows: str) -> None:
    """`--batch-size N`: `rows` (e.g. "Rows copied") per transaction."""
    parser.add_argument("--batch-size", default=str(default), help=f"{rows} per transaction (default {default}).")


def batch_size_option(options: dict[str, Any]) -> int:
    """The option's whole number from 1 to MAX_BATCH_SIZE (ASCII digits only), or a CommandError saying so."""
    text = str(options["batch_size"])
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_BATCH_SIZE:
        raise CommandError(f"--batch-size must be a whole number from 1 to {MAX_BATCH_SIZE}.")
    return int(text)
