"""How the admin shows a service's ValidationError: on the form's fields, or as messages on a page without a form."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest


def report_validation_error(request: HttpRequest, error: ValidationError) -> None:
    """One error message per field, for admin pages that redirect instead of showing a form."""
    for field, errors in error.message_dict.items():
        messages.error(request, f"{field}: {' '.join(errors)}")
