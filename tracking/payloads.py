"""Strict parsing of widget request bodies into typed inputs; every refusal names its field."""

import datetime as dt
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from common.parsing import (
    MOMENT_RANGE,
    JsonDecoder,
    NumberTooSmall,
    json_float,
    json_problem,
    moment_or_none,
    text_problem,
)
from tracking.enrichment import is_language_tag
from tracking.models import EVENT_NAME_MAX_LENGTH, TITLE_MAX_LENGTH, URL_MAX_LENGTH

STRING_MAX_LENGTH = 255
PHONE_MAX_LENGTH = 64
USER_HASH_MAX_LENGTH = 128
EVENT_METADATA_MAX_KEYS = 10
# Clocks drift; anything further ahead than this is a bug or a forgery.
MAX_CLOCK_SKEW = dt.timedelta(hours=1)
# Events older than this are refused: the widget sends them as they happen.
EVENT_MAX_AGE = dt.timedelta(days=365)
EARLIEST_SIGNUP = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
HEX = re.compile(r"[0-9a-fA-F]+")  # whole: fullmatch ("$" passes a final "\n")
_ESCAPED_NUL_OR_SURROGATE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
USER_FIELDS = {
    "user_id", "email", "user_hash", "name", "phone", "created_at", "language_override", "custom_attributes",
    "company", "companies",
}  # fmt: skip
# Intercom's company settings: these keys are the company's fields, any other plain value a custom attribute.
COMPANY_TEXT_FIELDS = ("name", "plan", "website", "industry")
COMPANY_MAX_PER_REQUEST = 10
INT32_MAX = 2**31 - 1


class PayloadError(Exception):
    """A request body field that is missing, mistyped or out of bounds."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


@dataclass(frozen=True)
class PageInput:
    url: str
    title: str = ""
    referrer: str = ""


@dataclass(frozen=True)
class CompanyInput:
    """One company of Intercom's `company` / `companies` settings."""

    company_id: str
    # Company fields the site sent (only those present): name, plan, website, industry, size,
    # monthly_spend, remote_created_at.
    fields: dict[str, Any] = field(default_factory=dict)
    custom_attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class UserInput:
    user_id: str | None = None
    email: str | None = None
    user_hash: str | None = None
    # Contact fields the site sent (only those present): name, phone, signed_up_at, language_override.
    fields: dict[str, Any] = field(default_factory=dict)
    custom_attributes: dict[str, Any] | None = None
    # The companies the site says the user belongs to (None: it said nothing about companies).
    companies: tuple[CompanyInput, ...] | None = None
    # Settings left out because the site got their shape wrong (field → why), reported as warnings:
    # like a custom attribute, a malformed `company` must not cost the page view or the rest.
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def identifies(self) -> bool:
        return bool(self.user_id or self.email)


# Where the widget says a consent statement came from (the loader's own command, or an adapter).
CONSENT_SOURCES = frozenset({"widget", "tcf", "consent_mode"})


@dataclass(frozen=True)
class ConsentInput:
    """The purposes a request states (None: not stated, the stored choice or the website's default applies)."""

    analytics: bool | None = None
    marketing: bool | None = None
    source: str = "widget"
    # The page's default (Google Consent Mode `default`, or a site's own), not the visitor's choice:
    # it applies only where the visitor made none, and is never stored as theirs.
    default: bool = False

    @property
    def stated(self) -> bool:
        return self.analytics is not None or self.marketing is not None


NO_CONSENT_STATED = ConsentInput()


@dataclass(frozen=True)
class PingInput:
    token: str | None
    anonymous_id: uuid.UUID | None
    consent: ConsentInput
    browser_language: str
    page: PageInput | None
    user: UserInput | None


@dataclass(frozen=True)
class UpdateInput:
    token: str
    consent: ConsentInput
    page: PageInput | None
    user: UserInput | None


@dataclass(frozen=True)
class EventInput:
    token: str
    consent: ConsentInput
    name: str
    metadata: dict[str, Any]
    created_at: dt.datetime | None


# --- body ---------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class _Unstorable(ValueError):
    """A number no float holds: 1e400 reads as inf, 1e-400 as 0."""


def _stored_float(literal: str) -> float:
    value = json_float(literal)
    if not math.isfinite(value) or isinstance(value, NumberTooSmall):
        raise _Unstorable(literal)
    return value


# Decoders shared by every body (json's own functions share theirs too): building one per request cost a ping
# ~1%. The second reads a body the first refused for a number no float holds, for the walk that names where it is.
_BODY_DECODER = JsonDecoder(parse_constant=_refuse_constant, parse_float=_stored_float)
_UNSTORABLE_DECODER = JsonDecoder(parse_constant=_refuse_constant, parse_float=json_float)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; invalid UTF-8, invalid JSON, a non-object, or anything no column can
    store (a NUL, a lone surrogate, 1e400, 1e-400) is refused, naming where it is."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body", "The body is not valid UTF-8.", "invalid_encoding") from None
    if not text.strip():
        raise PayloadError("body", "The body is empty; send a JSON object.", "required")
    unstorable = False
    try:
        try:
            body = _BODY_DECODER.decode(text)
        except _Unstorable:
            body, unstorable = _UNSTORABLE_DECODER.decode(text), True
    except ValueError:
        raise PayloadError("body", "The body is not valid JSON.", "invalid_json") from None
    if not isinstance(body, dict):
        raise PayloadError("body", "The body must be a JSON object.")
    # Fields a view ignores or stores as JSON (custom attributes, metadata) are checked here once. Only
    # \u escapes can carry a NUL or a lone surrogate (the decoder refuses them raw): the walk that
    # names the field runs only when one may be there, so the ping's hot path does not pay for it.
    if unstorable or _ESCAPED_NUL_OR_SURROGATE.search(text):
        problem = json_problem(body)
        if problem is not None:
            raise PayloadError(problem[0], problem[1])
    return body


def only_fields(body: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise PayloadError(f"{prefix}{unknown[0]}", "Unknown field.", "unknown_field")


# --- scalars ------------------------------------------------------------------------------------


def clean_text(value: Any, name: str, *, max_length: int = STRING_MAX_LENGTH, required: bool = False) -> str | None:
    """A string that PostgreSQL can store: no NUL, no lone surrogates, bounded length."""
    if value is None:
        if required:
            raise PayloadError(name, "This field is required.", "required")
        return None
    if not isinstance(value, str):
        raise PayloadError(name, "Must be a string.")
    problem = text_problem(value)
    if problem is not None:
        raise PayloadError(name, problem)
    if len(value) > max_length:
        raise PayloadError(name, f"Must be at most {max_length} characters.", "too_long")
    if required and not value.strip():
        raise PayloadError(name, "This field is required.", "required")
    return value


def clean_consent(value: Any) -> ConsentInput:
    """`true` (older loaders: analytics consent), `false`/absent (nothing stated) or an object of purposes
    (`analytics`, `marketing`: true, false or null; `source`: widget, tcf or consent_mode; `default`: true
    when it is the page's default, not the visitor's choice)."""
    if value is None or value is False:
        return NO_CONSENT_STATED
    if value is True:
        return ConsentInput(analytics=True)
    if not isinstance(value, dict):
        raise PayloadError("consent", 'Must be true, false or an object such as {"analytics": true}.')
    # Other keys are the site's own purposes (the loader passes its object through): not Parley's to judge.
    stated: dict[str, bool | None] = {}
    for purpose in ("analytics", "marketing"):
        given = value.get(purpose)
        if given is not None and not isinstance(given, bool):
            raise PayloadError(f"consent.{purpose}", "Must be true, false or null.")
        stated[purpose] = given
    source = value.get("source", "widget")
    if not isinstance(source, str) or source not in CONSENT_SOURCES:
        raise PayloadError("consent.source", f"Must be one of: {', '.join(sorted(CONSENT_SOURCES))}.")
    default = value.get("default", False)
    if not isinstance(default, bool):
        raise PayloadError("consent.default", "Must be true or false.")
    return ConsentInput(analytics=stated["analytics"], marketing=stated["marketing"], source=source, default=default)


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise PayloadError(name, "Must be true or false.")
    return value


# What str.isspace calls a space, found by the regex engine in one call (its \s is the same test per character).
_WHITESPACE = re.compile(r"\s")


def clean_url(value: Any, name: str, *, required: bool = False, web_only: bool = True) -> str:
    text = clean_text(value, name, max_length=URL_MAX_LENGTH, required=required) or ""
    if not text:
        return ""
    if _WHITESPACE.search(text):
        raise PayloadError(name, "Must be a URL without spaces.", "invalid_url")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise PayloadError(name, "Must be an absolute URL.", "invalid_url") from None
    schemes_ok = (
        parts.scheme in ("http", "https") if web_only else bool(re.fullmatch(r"[a-z][a-z0-9+.-]*", parts.scheme))
    )
    if not schemes_ok or not parts.netloc:
        expected = "an absolute http(s) URL" if web_only else "an absolute URL"
        raise PayloadError(name, f"Must be {expected}.", "invalid_url")
    return text


def clean_timestamp(value: Any, name: str, *, earliest: dt.datetime, now: dt.datetime) -> dt.datetime:
    """Unix seconds or ISO 8601, aware UTC, between `earliest` and now (plus clock skew)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(name, "Must be Unix seconds or an ISO 8601 date and time.")
    parsed = moment_or_none(value)
    if parsed is None and isinstance(value, str):
        raise PayloadError(name, f"Must be Unix seconds or an ISO 8601 date and time, {MOMENT_RANGE}.")
    if parsed is None:
        raise PayloadError(name, f"Must be Unix seconds {MOMENT_RANGE}.")
    if parsed > now + MAX_CLOCK_SKEW:
        raise PayloadError(name, "Must not be in the future.", "out_of_range")
    if parsed < earliest:
        raise PayloadError(name, f"Must not be before {earliest.date().isoformat()}.", "out_of_range")
    return parsed


def clean_token(value: Any, *, required: bool) -> str | None:
    return clean_text(value, "token", max_length=512, required=required)


# --- composite ----------------------------------------------------------------------------------


def clean_page(value: Any, prefix: str = "page") -> PageInput | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadError(prefix, "Must be an object with url, title and referrer.")
    only_fields(value, {"url", "title", "referrer"}, f"{prefix}.")
    url = clean_url(value.get("url"), f"{prefix}.url", required=True)
    title = clean_text(value.get("title"), f"{prefix}.title", max_length=4 * TITLE_MAX_LENGTH) or ""
    referrer = clean_url(value.get("referrer"), f"{prefix}.referrer", web_only=False)
    # Titles are display-only: a long one is shortened rather than refusing the page view.
    return PageInput(url=url, title=title[:TITLE_MAX_LENGTH], referrer=referrer)


def clean_user(value: Any, *, now: dt.datetime) -> UserInput | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadError("user", "Must be an object.")
    only_fields(value, USER_FIELDS, "user.")
    user_id = value.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)  # sites often use numeric ids
    user_id = clean_text(user_id, "user.user_id")
    user_id = user_id.strip() if user_id else None
    email = clean_text(value.get("email"), "user.email", max_length=254)
    email = email.strip() if email else None
    if email:
        try:
            EmailValidator()(email)
        except ValidationError:
            raise PayloadError("user.email", "Enter a valid email address.") from None
    user_hash = clean_text(value.get("user_hash"), "user.user_hash", max_length=USER_HASH_MAX_LENGTH)
    if user_hash and not HEX.fullmatch(user_hash):
        raise PayloadError("user.user_hash", "Must be a hex HMAC-SHA256 digest.")
    fields: dict[str, Any] = {}
    if "name" in value:
        fields["name"] = clean_text(value["name"], "user.name") or ""
    if "phone" in value:
        fields["phone"] = clean_text(value["phone"], "user.phone", max_length=PHONE_MAX_LENGTH) or ""
    if "created_at" in value and value["created_at"] is not None:
        fields["signed_up_at"] = clean_timestamp(
            value["created_at"], "user.created_at", earliest=EARLIEST_SIGNUP, now=now
        )
    if "language_override" in value:
        language = clean_text(value["language_override"], "user.language_override", max_length=35) or ""
        if language and not is_language_tag(language):
            raise PayloadError("user.language_override", "Must be a language tag such as de or pt-BR.")
        fields["language_override"] = language
    custom = value.get("custom_attributes")
    if custom is not None:
        if not isinstance(custom, dict):
            raise PayloadError("user.custom_attributes", "Must be an object of name → value.")
        for key, item in custom.items():
            if isinstance(item, str):
                clean_text(item, f"user.custom_attributes.{key}")
    refused: dict[str, str] = {}
    try:
        companies = clean_companies(value.get("company"), value.get("companies"), now=now)
    except PayloadError as error:
        companies, refused = None, {error.field: error.message}
    # An empty object writes nothing (attributes merge): it is no attribute at all. The widget sends one
    # on every ping, and a first ping that sends nothing else is queued.
    return UserInput(
        user_id=user_id, email=email, user_hash=user_hash, fields=fields, custom_attributes=custom or None,
        companies=companies, refused=refused,
    )  # fmt: skip


def _whole_number(value: Any, name: str, *, truncate: bool) -> int | None:
    """Intercom's company integers: 0 to 2**31-1; monthly_spend's fraction is truncated."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PayloadError(name, "Must be a number.")
    if not 0 <= value <= INT32_MAX or (not truncate and value != int(value)):
        raise PayloadError(name, f"Must be a whole number from 0 to {INT32_MAX}.", "out_of_range")
    return int(value)


def clean_company(value: Any, name: str, *, now: dt.datetime) -> CompanyInput:
    """One company object: `company_id` (or Intercom's `id`), its fields, the rest custom attributes."""
    if not isinstance(value, dict):
        raise PayloadError(name, "Must be an object with a company_id.")
    company_id = value.get("company_id", value.get("id"))
    if isinstance(company_id, int) and not isinstance(company_id, bool):
        company_id = str(company_id)  # sites often use numeric ids
    company_id = (clean_text(company_id, f"{name}.company_id", required=True) or "").strip()
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = (
        dict(value["custom_attributes"]) if isinstance(value.get("custom_attributes"), dict) else {}
    )
    if "custom_attributes" in value and not isinstance(value["custom_attributes"], dict | type(None)):
        raise PayloadError(f"{name}.custom_attributes", "Must be an object of name → value.")
    for key, item in value.items():
        if key in ("company_id", "id", "custom_attributes"):
            continue
        if key in COMPANY_TEXT_FIELDS:
            fields[key] = clean_text(item, f"{name}.{key}") or ""
        elif key == "size":
            fields["size"] = _whole_number(item, f"{name}.size", truncate=False)
        elif key == "monthly_spend":
            fields["monthly_spend"] = _whole_number(item, f"{name}.monthly_spend", truncate=True) or 0
        elif key == "created_at":
            fields["remote_created_at"] = (
                None if item is None else clean_timestamp(item, f"{name}.created_at", earliest=EARLIEST_SIGNUP, now=now)
            )
        else:
            custom[key] = item
    for key, item in custom.items():
        if isinstance(item, dict | list):
            raise PayloadError(f"{name}.{key}", "Nested values are not allowed; use a string, number, boolean or date.")
        if isinstance(item, str):
            clean_text(item, f"{name}.{key}")
    return CompanyInput(company_id=company_id, fields=fields, custom_attributes=custom or None)


def clean_companies(company: Any, companies: Any, *, now: dt.datetime) -> tuple[CompanyInput, ...] | None:
    """Intercom's `company` (one object) and `companies` (a list), as one list; None when neither is sent."""
    if company is None and companies is None:
        return None
    cleaned = [] if company is None else [clean_company(company, "user.company", now=now)]
    if companies is not None:
        if not isinstance(companies, list):
            raise PayloadError("user.companies", "Must be a list of company objects.")
        cleaned += [clean_company(item, f"user.companies[{index}]", now=now) for index, item in enumerate(companies)]
    if len(cleaned) > COMPANY_MAX_PER_REQUEST:
        raise PayloadError("user.companies", f"At most {COMPANY_MAX_PER_REQUEST} companies per request.", "too_many")
    return tuple(cleaned)


def _anonymous_id(value: Any) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 36:
        raise PayloadError("anonymous_id", "Must be a UUID string.")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PayloadError("anonymous_id", "Must be a UUID string.") from None


def clean_ping(body: dict[str, Any], *, now: dt.datetime) -> PingInput:
    only_fields(body, {"anonymous_id", "token", "consent", "browser_language", "page", "user"})
    language = clean_text(body.get("browser_language"), "browser_language", max_length=35) or ""
    if language and not is_language_tag(language):
        raise PayloadError("browser_language", "Must be a language tag such as fr-FR.")
    return PingInput(
        token=clean_token(body.get("token"), required=False),
        anonymous_id=_anonymous_id(body.get("anonymous_id")),
        consent=clean_consent(body.get("consent")),
        browser_language=language,
        page=clean_page(body.get("page")),
        user=clean_user(body.get("user"), now=now),
    )


def clean_update(body: dict[str, Any], *, now: dt.datetime) -> UpdateInput:
    only_fields(body, {"token", "consent", "page", "user"})
    return UpdateInput(
        token=clean_token(body.get("token"), required=True) or "",
        consent=clean_consent(body.get("consent")),
        page=clean_page(body.get("page")),
        user=clean_user(body.get("user"), now=now),
    )


def clean_metadata(value: Any) -> dict[str, Any]:
    """Intercom's limits: a flat object of at most 10 keys, strings of at most 255 characters."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError("metadata", "Must be an object of key → value.")
    if len(value) > EVENT_METADATA_MAX_KEYS:
        raise PayloadError(
            "metadata", f"At most {EVENT_METADATA_MAX_KEYS} keys are allowed; this has {len(value)}.", "too_many_keys"
        )
    for key, item in value.items():
        name = f"metadata.{key[:40]}"
        clean_text(key, name, max_length=STRING_MAX_LENGTH)
        if isinstance(item, dict | list):
            raise PayloadError(name, "Nested values are not allowed; use a string, number or boolean.")
        if isinstance(item, str):
            clean_text(item, name)
    return value


def clean_event(body: dict[str, Any], *, now: dt.datetime) -> EventInput:
    only_fields(body, {"token", "consent", "name", "metadata", "created_at"})
    token = clean_token(body.get("token"), required=True) or ""
    name = (clean_text(body.get("name"), "name", max_length=EVENT_NAME_MAX_LENGTH, required=True) or "").strip()
    created_at = None
    if body.get("created_at") is not None:
        created_at = clean_timestamp(body["created_at"], "created_at", earliest=now - EVENT_MAX_AGE, now=now)
    return EventInput(
        token=token,
        consent=clean_consent(body.get("consent")),
        name=name,
        metadata=clean_metadata(body.get("metadata")),
        created_at=created_at,
    )
