"""The GraphView's JavaScript shipped in the package is what js/ builds.

The bundle (Graphviz compiled to WebAssembly plus the view) is committed, so an
editable install and the wheel need no Node.  This test builds it again from the
pinned packages in js/package-lock.json (``npm ci``, then js/build.mjs) in a scratch
copy of js/ and compares the bytes: a source edited without ``make js`` fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from graflow_nb.notebook.graph_view import BUNDLE, bundle_bytes

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js"


def test_the_bundle_is_pinned_by_a_lockfile():
    lock = (JS / "package-lock.json").read_text(encoding="utf-8")
    assert '"lockfileVersion": 3' in lock
    assert '"node_modules/@hpcc-js/wasm-graphviz"' in lock and '"node_modules/esbuild"' in lock
    package = (JS / "package.json").read_text(encoding="utf-8")
    assert '"@hpcc-js/wasm-graphviz": "1.29.2"' in package and '"esbuild": "0.28.2"' in package


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_shipped_bundle_matches_its_sources(tmp_path):
    npm = shutil.which("npm")
    assert npm is not None, "npm is missing: `make node` installs Debian's nodejs and npm"
    work = tmp_path / "js"
    work.mkdir()
    for name in ("package.json", "package-lock.json", "build.mjs"):
        shutil.copy(JS / name, work / name)
    shutil.copytree(JS / "src", work / "src")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work, check=True, timeout=500)
    out = tmp_path / BUNDLE
    subprocess.run(["node", "build.mjs", str(out)], cwd=work, check=True, timeout=120)
    built = out.read_bytes()
    assert built == bundle_bytes(), (
        f"graflow_nb/static/{BUNDLE} ({len(bundle_bytes())} bytes) is not what js/ builds ({len(built)} bytes): run `make js`"
    )


def test_the_bundle_names_no_address_to_fetch():
    """The WebAssembly is inside the bundle, handed to Graphviz as ``wasmBinary``: it
    names no URL to load anything from (the one address is the SVG doctype's name)."""
    text = bundle_bytes().decode("utf-8")
    assert "wasmBinary" in text
    addresses = set(re.findall(r"https?://[^\s\"'`)]+", text))
    assert addresses <= {"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"}
    assert not re.search(r"[\w/-]+\.wasm\b", text)
