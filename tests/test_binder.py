"""binder/ must give mybinder everything the notebooks need.

When binder/ exists, repo2docker ignores the root pyproject.toml, so binder/ has to
repeat what it says: every runtime dependency in requirements.txt, a Python that
satisfies requires-python in runtime.txt, Graphviz's `dot` in apt.txt, and a postBuild
that installs the package itself and loads its extension in every kernel.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def lines(path: Path) -> list[str]:
    """Non-blank lines with comments stripped."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def binder_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in lines(BINDER / "requirements.txt")]
    return {canonicalize_name(r.name): r for r in reqs}


def test_requirements_name_every_runtime_dependency():
    declared = [Requirement(d) for d in project()["dependencies"]]
    listed = binder_requirements()
    missing = [str(d) for d in declared if canonicalize_name(d.name) not in listed]
    assert not missing, f"binder/requirements.txt lacks {missing} (declared in pyproject.toml [project].dependencies)"


def test_requirements_keep_the_lower_bounds_of_pyproject():
    """``pkg>=X`` in pyproject.toml must not become a looser ``pkg`` on Binder."""
    listed = binder_requirements()
    for dep in (Requirement(d) for d in project()["dependencies"]):
        binder = listed.get(canonicalize_name(dep.name))
        if binder is None:
            continue  # test_requirements_name_every_runtime_dependency reports it
        for bound in (s for s in dep.specifier if s.operator in (">=", ">")):
            floors = [Version(s.version) for s in binder.specifier if s.operator in (">=", ">", "==", "~=")]
            assert any(floor >= Version(bound.version) for floor in floors), (
                f"binder/requirements.txt has {binder}, looser than {dep} in pyproject.toml"
            )


def test_runtime_python_satisfies_requires_python():
    (runtime,) = lines(BINDER / "runtime.txt")
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"binder/runtime.txt should be one line like 'python-3.11', got {runtime!r}"
    requires = SpecifierSet(project()["requires-python"])
    assert requires.contains(match.group(1) + ".0"), f"runtime.txt asks for {runtime}, project requires {requires}"


def test_apt_installs_graphviz():
    assert "graphviz" in lines(BINDER / "apt.txt"), "binder/apt.txt must install graphviz (it provides `dot`)"


def test_post_build_installs_the_package_and_loads_the_extension():
    post_build = BINDER / "postBuild"
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!"), "postBuild needs a shebang line"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    commands = lines(post_build)
    assert any(re.search(r"\bpip install\b.*(\s|-e\s*)\.$", c) for c in commands), (
        "postBuild must pip-install the repository itself (repo2docker ignores pyproject.toml when binder/ exists)"
    )
    assert "set -euo pipefail" in commands, "postBuild must stop at the first failing command"
    assert re.search(r"ipython_kernel_config\.py", text) and re.search(
        r"InteractiveShellApp\.extensions\.append\(\s*[\"']graflow_nb[\"']\s*\)", text
    ), "postBuild must load the graflow_nb extension for every kernel"
