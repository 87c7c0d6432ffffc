"""What the package says about itself agrees everywhere it is said.

The version lives in ``graflow_nb/_version.py`` only; the package, the ``graflow-nb``
command and the installed metadata must report it alike, and the changelog must have
its entry. The Pythons the classifiers name are the ones ``make test-pythons`` runs.
(The built wheel itself is tried in a fresh virtualenv by smoke/test_installed_wheel.py.)
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import re
import subprocess
import sys
import tomllib
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

import graflow_nb
from graflow_nb.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIND_PYTHON = ROOT / "tools" / "find-python"
SAME_WHEEL = ROOT / "smoke" / "same_wheel.py"


def project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def pythons_in_makefile() -> list[str]:
    """The versions in the Makefile's ``PYTHONS ?= ...`` line."""
    (line,) = re.findall(r"^PYTHONS \?= (.+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    return line.split()


def test_the_version_is_defined_once_and_reported_alike(capsys):
    assert "version" in project()["dynamic"] and "version" not in project()
    assert graflow_nb.__version__ == importlib.metadata.version("graflow_nb")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"graflow-nb {graflow_nb.__version__}\n"
    assigned = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "graflow_nb").rglob("*.py")
        if re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"), re.M)
    ]
    assert assigned == ["graflow_nb/_version.py"]


def test_the_changelog_has_an_entry_for_the_version():
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert graflow_nb.__version__ in headings


def test_classifiers_and_requires_python_name_the_pythons_that_are_tested():
    versions = pythons_in_makefile()
    classifiers = project()["classifiers"]
    listed = [c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert listed == versions
    requires = SpecifierSet(project()["requires-python"])
    lowest = min(versions, key=lambda v: tuple(map(int, v.split("."))))
    assert all(requires.contains(f"{v}.0") for v in versions)
    assert not requires.contains(f"{lowest.split('.')[0]}.{int(lowest.split('.')[1]) - 1}.99")


def test_the_licence_is_an_spdx_expression_with_its_text_shipped():
    assert project()["license"] == "Apache-2.0"
    assert project()["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert not [c for c in project()["classifiers"] if c.startswith("License ::")]  # PEP 639: the expression only


def test_the_readme_shows_the_install_commands_as_typed():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\npip install graflow_nb\n" in readme
    assert '\npip install "graflow_nb[dask]"\n' in readme
    assert project()["optional-dependencies"]["dask"] == ["distributed>=2024.8"]


def find_python(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FIND_PYTHON), *argv], capture_output=True, text=True, timeout=60, check=False)


def test_find_python_gives_an_interpreter_of_the_version_asked_for():
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    found = find_python(version)
    assert found.returncode == 0, found.stderr
    path = found.stdout.strip()
    assert found.stdout == path + "\n" and Path(path).is_absolute()
    reported = subprocess.run(
        [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=60
    )
    assert reported.stdout == version + "\n"


@pytest.mark.parametrize(
    ("argument", "code", "message"),
    [
        ("3", 2, "tools/find-python: expected a version like 3.12, got '3'\n"),
        ("3.12; rm -rf /", 2, "tools/find-python: expected a version like 3.12, got '3.12; rm -rf /'\n"),
        (
            "9.99",
            1,
            "Python 9.99 is not installed: install it (e.g. 'pyenv install 9.99'), "
            'or leave it out with PYTHONS="..."\n',
        ),
    ],
)
def test_find_python_refuses_what_it_cannot_find(argument, code, message):
    found = find_python(argument)
    assert (found.returncode, found.stdout, found.stderr) == (code, "", message)


def wheel(path: Path, files: dict[str, bytes]) -> Path:
    """A minimal wheel: the files, and a RECORD (CSV) listing each with its sha256."""
    record = io.StringIO()
    rows = csv.writer(record, lineterminator="\n")
    for name, data in files.items():
        digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.writerow([name, f"sha256={digest}", len(data)])
    rows.writerow(["pkg-1.0.dist-info/RECORD", "", ""])
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("pkg-1.0.dist-info/RECORD", record.getvalue())
    return path


def same_wheel(a: Path, b: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SAME_WHEEL), str(a), str(b)], capture_output=True, text=True, timeout=60, check=False
    )


def test_same_wheel_accepts_two_wheels_with_equal_files(tmp_path):
    files = {"pkg/__init__.py": b"", "pkg/data.json": b"{}"}
    a = wheel(tmp_path / "a.whl", files)
    (tmp_path / "b").mkdir()
    b = wheel(tmp_path / "b" / "a.whl", dict(reversed(list(files.items()))))
    done = same_wheel(a, b)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"{a} and {b}: the same 3 files\n"


def test_same_wheel_names_each_missing_extra_and_changed_file(tmp_path):
    (tmp_path / "tree").mkdir()
    (tmp_path / "sdist").mkdir()
    tree = wheel(tmp_path / "tree" / "p.whl", {"pkg/__init__.py": b"", "pkg/schema.json": b"{}", "pkg/x.py": b"1"})
    sdist = wheel(tmp_path / "sdist" / "p.whl", {"pkg/__init__.py": b"", "pkg/stale.py": b"", "pkg/x.py": b"2"})
    done = same_wheel(sdist, tree)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"only in p.whl from {tmp_path / 'sdist'}: pkg/stale.py",
        f"only in p.whl from {tmp_path / 'tree'}: pkg/schema.json",
        "differs: pkg/x.py",
    ]


def test_same_wheel_refuses_a_wheel_whose_record_leaves_a_file_out(tmp_path):
    good = wheel(tmp_path / "good.whl", {"pkg/__init__.py": b""})
    sneaky = wheel(tmp_path / "sneaky.whl", {"pkg/__init__.py": b""})
    with zipfile.ZipFile(sneaky, "a") as archive:
        archive.writestr("pkg/unlisted.py", b"")
    done = same_wheel(good, sneaky)
    assert done.returncode == 1
    assert done.stderr == f"{sneaky}: files missing from its RECORD: pkg/unlisted.py\n"


def test_same_wheel_reads_rows_as_csv(tmp_path):
    """A file name with a comma or a quote is quoted in RECORD, as the wheel spec says."""
    files = {'pkg/a,b "c".txt': b"x", "pkg/__init__.py": b""}
    a = wheel(tmp_path / "a.whl", files)
    (tmp_path / "b").mkdir()
    b = wheel(tmp_path / "b" / "a.whl", {**files, 'pkg/a,b "c".txt': b"y"})
    done = same_wheel(a, b)
    assert done.returncode == 1
    assert done.stderr == 'differs: pkg/a,b "c".txt\n'
