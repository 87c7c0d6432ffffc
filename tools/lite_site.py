"""Lay out what `make lite-site` builds the JupyterLite site from, so the site runs
Python from its own files: no request to Pyodide's CDN or to PyPI for what the kernel
and graflow_nb need.

    python tools/lite_site.py PYODIDE_PACKAGE WHEELS GRAFLOW_WHEEL LITE_DIR

- PYODIDE_PACKAGE: the npm ``pyodide`` package (tools/lite-pyodide/node_modules/pyodide),
  whose version must be the one the installed jupyterlite-pyodide-kernel is built for.
  Its runtime goes to LITE_DIR/static/pyodide/, where ``jupyter lite build`` finds it and
  points the kernel's ``pyodideUrl`` at it.
- WHEELS: the pure-Python wheels tools/lite-wheels.txt pins.  A wheel of a package that
  Pyodide's lock lists (the npm package ships the lock, not the packages) goes beside
  the runtime, and its lock entry is rewritten to it (file name and sha256: Pyodide's
  own build of a pure package is not byte for byte PyPI's wheel).  Every other wheel
  goes to LITE_DIR/pypi/, the site's package index that ``%pip install`` reads.
- GRAFLOW_WHEEL: graflow_nb's wheel, into LITE_DIR/pypi/ too.

Every other package of the lock (pandas, numpy, PyYAML, ...: compiled for WebAssembly,
published only on Pyodide's CDN) keeps its entry, with its file's full CDN address: a
page that can reach the CDN loads it from there when a notebook imports it, and one
that can't gets that import's error, while everything else still runs.

Prints one line per package served from the site and a count of those left to the CDN.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

from jupyterlite_pyodide_kernel.constants import PYODIDE_CDN_URL, PYODIDE_LOCK, PYODIDE_VERSION

RUNTIME = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(wheel: Path) -> tuple[str, str]:
    name, version = wheel.name.split("-")[:2]
    return canonical(name), version


def lay_out(pyodide: Path, wheels: Path, graflow_wheel: Path, lite_dir: Path) -> dict[str, list[str]]:
    version = json.loads((pyodide / "package.json").read_text())["version"]
    if version != PYODIDE_VERSION:
        raise SystemExit(f"{pyodide} is pyodide {version}, but jupyterlite-pyodide-kernel is built for "
                         f"{PYODIDE_VERSION}: pin {PYODIDE_VERSION} in tools/lite-pyodide/package.json")
    runtime = lite_dir / "static" / "pyodide"
    index = lite_dir / "pypi"
    runtime.mkdir(parents=True)
    index.mkdir(parents=True)
    for name in RUNTIME:
        shutil.copy(pyodide / name, runtime / name)
    lock = json.loads((pyodide / PYODIDE_LOCK).read_text())
    packages = {canonical(key): entry for key, entry in lock["packages"].items()}
    served: dict[str, list[str]] = {"runtime": [], "index": [graflow_wheel.name]}
    for wheel in sorted(wheels.glob("*.whl")):
        name, wheel_version = wheel_name_version(wheel)
        entry = packages.get(name)
        if entry is None:
            shutil.copy(wheel, index / wheel.name)
            served["index"].append(wheel.name)
            continue
        if entry["version"] != wheel_version:
            raise SystemExit(f"tools/lite-wheels.txt pins {name}=={wheel_version}, but pyodide {version}'s lock "
                             f"has {entry['version']}: pin that version")
        shutil.copy(wheel, runtime / wheel.name)
        entry["file_name"] = wheel.name
        entry["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
        served["runtime"].append(wheel.name)
    shutil.copy(graflow_wheel, index / graflow_wheel.name)
    local = {canonical(wheel_name_version(Path(w))[0]) for w in served["runtime"]}
    for key, entry in packages.items():
        if key not in local:
            entry["file_name"] = f"{PYODIDE_CDN_URL}/{entry['file_name']}"
    (runtime / PYODIDE_LOCK).write_text(json.dumps(lock, indent=1) + "\n")
    served["cdn"] = sorted(key for key in packages if key not in local)
    return served


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        raise SystemExit(__doc__)
    pyodide, wheels, graflow_wheel, lite_dir = map(Path, argv)
    served = lay_out(pyodide, wheels, graflow_wheel, lite_dir)
    for where in ("runtime", "index"):
        for name in served[where]:
            print(f"served from the site ({where}): {name}")
    print(f"left to Pyodide's CDN: {len(served['cdn'])} packages of the lock (pandas, numpy, pyyaml, ...)")


if __name__ == "__main__":
    main(sys.argv[1:])
