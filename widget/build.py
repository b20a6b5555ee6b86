"""The widget's one build step: minify the readable sources in widget/js/ into static/widget/.

The minified files are committed, so `make run` and CI need no build; a test checks they are up to
date with their sources (rebuild with `manage.py build_widget`).
"""

from pathlib import Path

from calmjs.parse import es5
from calmjs.parse.unparsers.es5 import minify_print

SOURCE_DIR = Path(__file__).resolve().parent / "js"
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "static" / "widget"
BUNDLES = ("parley.js", "panel.js", "consent.js")


def minify(source: str) -> str:
    """ES5 source minified with local names mangled; the leading /*! … */ licence line is kept."""
    first_line = source.splitlines()[0]
    banner = first_line + "\n" if first_line.startswith("/*!") else ""
    # drop_semi: no `;` before a `}` (valid ES5, and bytes every page view pays for).
    return banner + minify_print(es5(source), obfuscate=True, obfuscate_globals=False, drop_semi=True) + "\n"


def built_bundles() -> dict[str, str]:
    """File name → minified text, freshly built from the sources."""
    return {name: minify((SOURCE_DIR / name).read_text(encoding="utf-8")) for name in BUNDLES}


def build() -> list[Path]:
    """Write the minified bundles to static/widget/; returns the files written."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in built_bundles().items():
        path = OUTPUT_DIR / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
