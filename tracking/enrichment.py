"""Request-time enrichment: GeoIP city/country, user agent, language (the client IP comes from common.client_ip).

The IP address never leaves this module's callers' stack frames: it is not stored, logged, cached
or put into a Celery message. Only the derived city and country are kept.
"""

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import maxminddb
from django.conf import settings
from django.http import HttpRequest
from ua_parser import Cache, CachingResolver, Domain, Parser, load_lazy_builtins
from ua_parser.regex import Resolver as RustRegexResolver

from common.client_ip import parse_ip

logger = logging.getLogger(__name__)

USER_AGENT_CACHE_SIZE = 4096
USER_AGENT_MAX_LENGTH = 512
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}")  # whole: fullmatch ("$" passes a final "\n")
LANGUAGE_MAX_LENGTH = 35


@dataclass(frozen=True)
class Location:
    city: str = ""
    country: str = ""
    country_name: str = ""


@dataclass(frozen=True)
class Device:
    os: str = ""
    browser: str = ""
    browser_version: str = ""
    # A known crawler (the parser's device family "Spider"), or no user agent at all.
    bot: bool = False


# --- GeoIP --------------------------------------------------------------------------------------


def _geoip_path() -> str:
    if settings.GEOIP_PATH:
        return settings.GEOIP_PATH
    from _maxminddb_geolite2 import geolite2_database  # the GeoLite2 City DB shipped by maxminddb-geolite2

    return geolite2_database()


@functools.lru_cache(maxsize=1)
def geoip_reader() -> maxminddb.Reader | None:
    """One memory-mapped reader per process, on maxminddb's C extension where its wheel has it
    (MODE_AUTO: about 12 µs a lookup against 85 µs for the pure-Python decoder). Read as plain
    records: building geoip2's City model around each cost a first ping more than the lookup itself."""
    path = _geoip_path()
    if not Path(path).is_file():
        logger.warning("GeoIP database not found; city and country stay empty.")
        return None
    return maxminddb.open_database(path, maxminddb.MODE_AUTO)


def _english_name(record: object) -> str:
    names = record.get("names") if isinstance(record, dict) else None
    name = names.get("en") if isinstance(names, dict) else None
    return name if isinstance(name, str) else ""


def locate(ip: str | None) -> Location:
    """City and country of a public IP; empty for private, reserved or unknown addresses."""
    address = parse_ip(ip) if ip else None
    if address is None or not address.is_global:
        return Location()
    reader = geoip_reader()
    if reader is None:
        return Location()
    try:
        found = reader.get(str(address))
    except ValueError:
        return Location()
    if not isinstance(found, dict):
        return Location()
    country = found.get("country")
    iso_code = country.get("iso_code") if isinstance(country, dict) else None
    return Location(
        city=_english_name(found.get("city"))[:128],
        country=(iso_code if isinstance(iso_code, str) else "")[:2],
        country_name=_english_name(country)[:128],
    )


# --- user agent ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def user_agent_parser() -> Parser:
    """ua-parser on the Rust regex engine (ua-parser-rs), with an in-process result cache."""
    return Parser(CachingResolver(RustRegexResolver(load_lazy_builtins()), Cache(USER_AGENT_CACHE_SIZE)))


def _version(*parts: str | None) -> str:
    return ".".join(part for part in parts if part)


@functools.lru_cache(maxsize=USER_AGENT_CACHE_SIZE)
def describe_device(user_agent: str) -> Device:
    """OS, browser family and browser version of a user agent string, and whether it is a bot (memoized). A NUL
    (which some servers pass on in a header) is dropped: PostgreSQL stores no NUL in text."""
    user_agent = user_agent.replace("\x00", "")[:USER_AGENT_MAX_LENGTH]
    if not user_agent.strip():
        return Device(bot=True)
    result = user_agent_parser()(user_agent, Domain.ALL)
    os_name = ""
    if result.os and result.os.family != "Other":
        os_name = f"{result.os.family} {_version(result.os.major, result.os.minor)}".strip()
    browser = browser_version = ""
    if result.user_agent and result.user_agent.family != "Other":
        browser = result.user_agent.family
        browser_version = _version(result.user_agent.major, result.user_agent.minor)
    bot = result.device is not None and result.device.family == "Spider"
    return Device(os=os_name[:64], browser=browser[:64], browser_version=browser_version[:32], bot=bot)


# --- language -----------------------------------------------------------------------------------


def is_language_tag(value: str) -> bool:
    return len(value) <= LANGUAGE_MAX_LENGTH and bool(LANGUAGE_TAG.fullmatch(value))


def accept_language(request: HttpRequest) -> str:
    """The first language of the Accept-Language header, or ''."""
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    first = header.split(",", 1)[0].split(";", 1)[0].strip()
    return first if first != "*" and is_language_tag(first) else ""
