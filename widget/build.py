"""The widget's one build step: minify the readable sources in widget/js/ into static/widget/ with terser.

The minified files are committed, so `make run` needs no build and no Node.js; a test checks they are up to
date with their sources (rebuild with `manage.py build_widget`; `make install-widget-build` installs terser
from widget/package-lock.json). Terser's compression saves about 400 of the 20 KB the loader and panel may
weigh gzipped, against a minifier that only renames.
"""

import shutil
import subprocess
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent / "js"
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "static" / "widget"
TERSER = Path(__file__).resolve().parent / "node_modules" / "terser" / "bin" / "terser"
BUNDLES = ("parley.js", "panel.js", "consent.js")
# ES5 out, as in; the leading /*! … */ licence line is kept. The loader's settings placeholder
# (widget.scripts.BAKED_PLACEHOLDER) must stay one string literal, which /widget/<app_id> replaces: no
# constant folding there, or `typeof "__PARLEY_BAKED__"` is worked out at build time and the settings dropped.
COMMON_OPTIONS = ["--ecma", "5", "--comments", "some", "--mangle"]
COMPRESS = {"parley.js": "reduce_vars=false,evaluate=false", "panel.js": "passes=2", "consent.js": "passes=2"}


class BuildToolMissing(RuntimeError):
    pass


def minify(source: str, name: str) -> str:
    """`source` (the bundle `name`) minified by terser."""
    node = shutil.which("node")
    if node is None or not TERSER.exists():
        raise BuildToolMissing(
            "The widget's build needs Node.js and terser: run `make install-widget-build` (npm ci in widget/)."
        )
    run = subprocess.run(  # noqa: S603 - fixed command line, our own sources on stdin
        [node, str(TERSER), *COMMON_OPTIONS, "--compress", COMPRESS[name]],
        input=source, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"terser failed on {name}:\n{run.stderr}")
    return run.stdout.rstrip("\n") + "\n"


def built_bundles() -> dict[str, str]:
    """File name → minified text, freshly built from the sources."""
    return {name: minify((SOURCE_DIR / name).read_text(encoding="utf-8"), name) for name in BUNDLES}


def build() -> list[Path]:
    """Write the minified bundles to static/widget/; returns the files written."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in built_bundles().items():
        path = OUTPUT_DIR / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
