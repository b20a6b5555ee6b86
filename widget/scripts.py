"""The served widget files: the loader with its app id baked in, and the panel's URL."""

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.templatetags.static import static

LOADER_STATIC_NAME = "widget/parley.js"
PANEL_STATIC_NAME = "widget/panel.js"
# The loader ships with this string literal; /widget/<app_id> replaces it with its settings object.
BAKED_PLACEHOLDER = '"__PARLEY_BAKED__"'


@dataclass(frozen=True)
class ServedScript:
    body: bytes
    gzipped: bytes
    etag: str


def static_source(name: str) -> str:
    """Text of a file under static/ (the committed, minified bundle)."""
    path = finders.find(name)
    if not path:
        raise FileNotFoundError(f"static file {name} not found; run manage.py build_widget")
    return Path(path).read_text(encoding="utf-8")


def panel_url() -> str:
    """The panel's static URL: content-hashed (immutable caching) once collectstatic has run."""
    try:
        return static(PANEL_STATIC_NAME)
    except ValueError:  # manifest storage without a manifest entry yet (no collectstatic)
        return settings.STATIC_URL + PANEL_STATIC_NAME


def loader_for(app_id: str) -> ServedScript:
    """The loader with the app id and the panel URL baked in, plain and gzipped, with an ETag."""
    path = finders.find(LOADER_STATIC_NAME)
    mtime = Path(path).stat().st_mtime_ns if path else 0
    return _loader_for(app_id, panel_url(), mtime)


@lru_cache(maxsize=256)
def _loader_for(app_id: str, panel: str, mtime: int) -> ServedScript:
    baked = json.dumps({"a": app_id, "p": panel}, separators=(",", ":"))
    # </script> can never appear: app ids are [a-z0-9] and static URLs are ours; escape anyway.
    baked = baked.replace("<", "\\u003c")
    body = static_source(LOADER_STATIC_NAME).replace(BAKED_PLACEHOLDER, baked, 1).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return ServedScript(body=body, gzipped=gzip.compress(body, compresslevel=9, mtime=0), etag=etag)
