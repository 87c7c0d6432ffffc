"""The Makefile's promise for system programs (README, "Install"): when `dot` or
`chromium` is missing, `make` installs Debian's package with apt-get when it runs as
root, and otherwise stops with one line saying what to install.

Each case runs the real Makefile target with a PATH holding only stand-ins: an
`apt-get` that logs its arguments (and can fail), an `id` that says who we are, and
the program itself when the case has it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")


def stand_in(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def make(target: str, tmp_path: Path, *, uid: int = 0, apt: str | None = "ok", present: tuple[str, ...] = ()):
    """``make TARGET`` with stand-ins on PATH; returns (exit code, output, apt-get calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    stand_in(bin_dir, "id", f'[ "$1" = -u ] && echo {uid}\n')
    if apt is not None:
        stand_in(bin_dir, "apt-get", f'echo "$@" >> "{log}"\n' + ("exit 100\n" if apt == "fails" else ""))
    for program in present:
        stand_in(bin_dir, program, "exit 0\n")
    done = subprocess.run(
        [MAKE, "-s", "--no-print-directory", target],
        cwd=ROOT, env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/")},
        capture_output=True, text=True, timeout=60,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, (done.stdout + done.stderr).strip(), calls


PROGRAMS = {
    "dot": ("graphviz", "Graphviz's 'dot'", " (apt install graphviz / brew install graphviz)"),
    "chromium": ("chromium", "Chromium", ": the browser tests need it"),
    "node": ("nodejs npm", "Node.js and npm", " (apt install nodejs npm): the graph widget's bundle and the Pyodide tests need them"),
}

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is what this tests")


@pytest.mark.parametrize("target", PROGRAMS)
def test_as_root_a_missing_program_is_installed_with_apt_get(target, tmp_path):
    package, what, _ = PROGRAMS[target]
    code, output, calls = make(target, tmp_path)
    assert (code, output) == (0, f"installing {what} with apt-get")
    assert calls == ["update -qq", f"install -y -qq {package}"]


@pytest.mark.parametrize("target", PROGRAMS)
def test_when_apt_get_fails_make_stops_naming_the_package(target, tmp_path):
    package, what, hint = PROGRAMS[target]
    code, output, calls = make(target, tmp_path, apt="fails")
    assert code != 0
    assert output.splitlines()[:2] == [
        f"installing {what} with apt-get",
        f"could not install {what}: install the '{package}' system package{hint}",
    ]
    assert calls == ["update -qq"]  # the update failed: nothing was installed


@pytest.mark.parametrize("target", PROGRAMS)
def test_not_root_or_without_apt_get_make_stops_with_one_line(target, tmp_path):
    package, what, hint = PROGRAMS[target]
    line = f"{what} is missing: install the '{package}' system package{hint}"
    (tmp_path / "user").mkdir()
    code, output, calls = make(target, tmp_path / "user", uid=1000)
    assert code != 0 and output.splitlines()[0] == line and calls == []
    (tmp_path / "no-apt").mkdir()
    code, output, calls = make(target, tmp_path / "no-apt", apt=None)
    assert code != 0 and output.splitlines()[0] == line and calls == []


@pytest.mark.parametrize(("target", "program"), [("dot", "dot"), ("chromium", "chromium"), ("chromium", "chromium-browser"), ("node", "npm")])
def test_a_program_already_there_installs_nothing(target, program, tmp_path):
    assert make(target, tmp_path, present=(program,)) == (0, "", [])


def test_running_the_notebooks_locally_installs_nothing_make_test_installed():
    """docs/tutorials.md's "Run them locally": JupyterLab comes with the dev extra that
    ``make test`` installs, so the steps don't install it a second time."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    dev = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert any(dep.startswith("jupyterlab") for dep in dev)
    steps = (root / "docs" / "tutorials.md").read_text().split("## Run them locally", 1)[1].split("```")[1]
    assert "make test" in steps and "jupyter lab notebooks/" in steps
    assert "pip install" not in steps
