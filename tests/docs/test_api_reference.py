"""The API reference's contract (issue 30): every public name of the modules a user
imports from has an entry in ``docs/api/`` at its public import path, with a docstring
that says what it is for; no entry names an internal module path.

Read from the page sources (the docs build itself checks the same from what autodoc
documented, see ``docs/_ext/graflow_docs.py``), so this runs in a second, without Sphinx."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api"
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
from public_modules import PUBLIC_MODULES  # noqa: E402  (what the reference promises to cover; the build reads it too)

ENTRY = re.compile(r"^\.\. auto(?:function|class|exception|data):: (\S+)\n((?:\n|   .*\n)*)", re.M)


def entries() -> dict[str, str]:
    """Every autodoc entry of the API pages: dotted path -> the directive's indented body."""
    found: dict[str, str] = {}
    for page in sorted(API.glob("*.rst")):
        for path, body in ENTRY.findall(page.read_text(encoding="utf-8")):
            assert path not in found, f"{path} has two entries"
            found[path] = body
    return found


def public_names() -> list[tuple[str, str, object]]:
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names += [(module_name, name, getattr(module, name)) for name in module.__all__]
    return names


def test_every_public_name_has_an_entry_at_a_public_path():
    documented = entries()
    by_object = {id(obj): f"{m}.{n}" for m, n, obj in public_names() if f"{m}.{n}" in documented}
    missing = [f"{m}.{n}" for m, n, obj in public_names() if f"{m}.{n}" not in documented and id(obj) not in by_object]
    assert missing == [], f"public names with no entry in docs/api/: {missing}"


def test_a_name_documented_elsewhere_is_listed_on_its_modules_page_with_a_link():
    documented = entries()
    by_object = {id(obj): f"{m}.{n}" for m, n, obj in public_names() if f"{m}.{n}" in documented}
    pages = {p.stem: p.read_text(encoding="utf-8") for p in API.glob("*.rst")}
    unlisted = []
    for module_name, name, obj in public_names():
        if f"{module_name}.{name}" in documented:
            continue
        line = f"- ``{name}``: :py:obj:`{by_object.get(id(obj), '(no entry)')}`"
        if not any(f"``{module_name}``\n" in text and line in text for text in pages.values()):
            unlisted.append(f"{module_name}.{name}")
    assert unlisted == []


def test_no_entry_names_an_internal_module_path():
    public = {f"{m}.{n}" for m, n, _ in public_names()}
    assert sorted(set(entries()) - public) == []


@pytest.mark.parametrize(
    ("path", "obj"),
    [(f"{m}.{n}", obj) for m, n, obj in public_names() if inspect.isclass(obj) or inspect.isroutine(obj)],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_each_function_and_class_says_what_it_is_for(path, obj):
    # a class's __doc__ is its own (never inherited), so a subclass must say why it exists
    assert (obj.__doc__ or "").strip(), f"{path} has no docstring"


def test_each_constant_is_described_in_its_entry():
    documented = entries()
    constants = [f"{m}.{n}" for m, n, obj in public_names() if not (inspect.isclass(obj) or inspect.isroutine(obj))]
    assert "graflow_nb.core.snapshot.Resolver" in constants  # a type alias: its docs live in the entry too
    bare = [path for path in constants if path in documented and not documented[path].strip()]
    assert bare == []


def test_each_widget_entry_shows_its_import_path():
    text = (API / "notebook.rst").read_text(encoding="utf-8")
    for widget in ("DebuggerWidget", "TaskInspector", "HumanInputPanel", "BuilderWidget"):
        assert f".. autoclass:: graflow_nb.notebook.{widget}\n" in text
