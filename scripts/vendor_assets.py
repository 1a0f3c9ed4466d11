"""Copy the front-end files Rackpilot serves from node_modules into static/vendor/.

Run after ``npm ci`` (the Makefile's ``assets`` target does both). Only the built files the
templates load are copied, so static/vendor stays small and reviewable. A missing file, or a
package in node_modules whose version differs from the one pinned in package.json, stops the
script with a non-zero exit: a half-populated static/vendor would only show up later as a
page without styles.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "static" / "vendor"

# package -> [(path inside the package, path inside static/vendor/<package>/), ...]
FILES: dict[str, list[tuple[str, str]]] = {
    "bootstrap": [
        ("dist/css/bootstrap.min.css", "css/bootstrap.min.css"),
        ("dist/css/bootstrap.min.css.map", "css/bootstrap.min.css.map"),
        ("dist/js/bootstrap.bundle.min.js", "js/bootstrap.bundle.min.js"),
        ("dist/js/bootstrap.bundle.min.js.map", "js/bootstrap.bundle.min.js.map"),
    ],
    "bootstrap-icons": [
        # The stylesheet loads its fonts from ./fonts/, so the layout is kept.
        ("font/bootstrap-icons.min.css", "font/bootstrap-icons.min.css"),
        ("font/fonts/bootstrap-icons.woff2", "font/fonts/bootstrap-icons.woff2"),
        ("font/fonts/bootstrap-icons.woff", "font/fonts/bootstrap-icons.woff"),
    ],
    "htmx.org": [
        ("dist/htmx.min.js", "htmx.min.js"),
    ],
    # The live log panel: the terminal, fitting it to its box, and searching its buffer.
    "@xterm/xterm": [
        ("lib/xterm.js", "lib/xterm.js"),
        ("lib/xterm.js.map", "lib/xterm.js.map"),
        ("css/xterm.css", "css/xterm.css"),
    ],
    "@xterm/addon-fit": [
        ("lib/addon-fit.js", "lib/addon-fit.js"),
        ("lib/addon-fit.js.map", "lib/addon-fit.js.map"),
    ],
    "@xterm/addon-search": [
        ("lib/addon-search.js", "lib/addon-search.js"),
        ("lib/addon-search.js.map", "lib/addon-search.js.map"),
    ],
    # Overview charts.
    "chart.js": [
        ("dist/chart.umd.min.js", "chart.umd.min.js"),
    ],
}

# The template editor: CodeMirror 6 as ES modules, loaded through an import map
# (templates/workflows/partials/codemirror_importmap.html), so no bundler runs at set-up.
# package -> its ES module entry; packages not in package.json are CodeMirror's own
# dependencies, pinned by package-lock.json.
ES_MODULES: dict[str, str] = {
    "@codemirror/state": "dist/index.js",
    "@codemirror/view": "dist/index.js",
    "@codemirror/language": "dist/index.js",
    "@codemirror/commands": "dist/index.js",
    "@codemirror/lint": "dist/index.js",
    "@codemirror/search": "dist/index.js",
    "@codemirror/autocomplete": "dist/index.js",
    "@codemirror/streamparser": "dist/index.js",
    "@codemirror/lang-yaml": "dist/index.js",
    "@lezer/common": "dist/index.js",
    "@lezer/highlight": "dist/index.js",
    "@lezer/lr": "dist/index.js",
    "@lezer/yaml": "dist/index.js",
    "@marijn/find-cluster-break": "src/index.js",
    "crelt": "index.js",
    "style-mod": "src/style-mod.js",
    "w3c-keyname": "index.js",
}
for _package, _entry in ES_MODULES.items():
    FILES.setdefault(_package, []).append((_entry, "index.js"))


class VendorError(Exception):
    pass


def pinned_versions() -> dict[str, str]:
    """package.json's exact pins, and package-lock.json's for what those depend on."""
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pins = {
        key.removeprefix("node_modules/"): str(entry["version"])
        for key, entry in lock.get("packages", {}).items()
        if key.startswith("node_modules/") and "version" in entry
    }
    manifest = json.loads((ROOT / "package.json").read_text())
    return {**pins, **manifest.get("dependencies", {})}


def installed_version(package: str) -> str:
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.is_file():
        raise VendorError(f"{package} is not installed in node_modules (run `npm ci` first)")
    return str(json.loads(manifest.read_text())["version"])


def check_versions() -> None:
    pins = pinned_versions()
    missing = sorted(set(FILES) - set(pins))
    if missing:
        raise VendorError(f"package.json / package-lock.json do not pin: {', '.join(missing)}")
    for package in FILES:
        found = installed_version(package)
        if found != pins[package]:
            raise VendorError(
                f"node_modules has {package} {found} but package.json pins {pins[package]} "
                "(run `npm ci`)"
            )


def planned_copies() -> list[tuple[Path, Path]]:
    """Every (source, destination) pair; raises if any source is missing, before copying."""
    copies = [
        (NODE_MODULES / package / src, VENDOR / package / dst)
        for package, files in FILES.items()
        for src, dst in files
    ]
    absent = [str(src.relative_to(ROOT)) for src, _ in copies if not src.is_file()]
    if absent:
        raise VendorError(f"missing {', '.join(absent)}")
    return copies


def copy_all(copies: list[tuple[Path, Path]]) -> None:
    # Start from empty folders so files of an older version never linger.
    for package in FILES:
        shutil.rmtree(VENDOR / package, ignore_errors=True)
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def main() -> int:
    try:
        check_versions()
        copies = planned_copies()
    except VendorError as exc:
        print(f"vendor_assets: {exc}", file=sys.stderr)
        return 1
    copy_all(copies)
    for _, dst in copies:
        print(f"vendored {dst.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
