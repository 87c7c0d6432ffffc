"""The docs build's own checks (``docs/_ext/graflow_docs.py``), in a real Sphinx build
of a one-page site: a public name with no reference entry, and a documented name
without a docstring, are warnings (errors under ``make test``'s ``-W``), each naming
the public path; a type hint naming an internal module links to the public entry."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from sphinx.application import Sphinx

import graflow_nb

EXTENSIONS = Path(__file__).resolve().parents[2] / "docs" / "_ext"


def build(tmp_path: Path, page: str) -> tuple[str, str]:
    """Build ``page`` as the only page of a site; (warnings, the page's HTML)."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXTENSIONS)!r})\n"
        "extensions = ['sphinx.ext.autodoc', 'graflow_docs']\n",
        encoding="utf-8",
    )
    (source / "index.rst").write_text(page, encoding="utf-8")
    warnings = io.StringIO()
    app = Sphinx(str(source), str(source), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                 status=None, warning=warnings, freshenv=True)
    app.build()
    return warnings.getvalue(), (tmp_path / "html" / "index.html").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def forget_the_extension():
    yield
    sys.modules.pop("graflow_docs", None)


def test_a_public_name_without_an_entry_is_a_warning_naming_it(tmp_path):
    warnings, _ = build(tmp_path, "Title\n=====\n\n.. autofunction:: graflow_nb.task\n")
    assert "graflow_nb.workflow is public but has no entry in the API reference" in warnings
    assert "graflow_nb.notebook.DebuggerWidget is public but has no entry" in warnings
    assert "graflow_nb.task is public" not in warnings
    # a name documented at another public path counts: graflow_nb.core.task is the same object
    assert "graflow_nb.core.task is public" not in warnings


def test_a_documented_name_without_a_docstring_is_a_warning_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(graflow_nb.chain, "__doc__", None)
    warnings, _ = build(tmp_path, "Title\n=====\n\n.. autofunction:: graflow_nb.chain\n")
    assert "graflow_nb.chain has no docstring: say what it is for" in warnings


def test_an_internal_type_hint_links_to_the_public_entry(tmp_path):
    page = "Title\n=====\n\n.. autofunction:: graflow_nb.draw_graph\n\n.. autoclass:: graflow_nb.observe.Render\n"
    _, html = build(tmp_path, page)
    # draw_graph's return hint names graflow_nb.observe.render.Render
    assert 'href="#graflow_nb.observe.Render"' in html


def test_the_build_checks_the_modules_the_reference_test_walks():
    sys.path.insert(0, str(EXTENSIONS))
    try:
        import graflow_docs
        from test_api_reference import PUBLIC_MODULES
    finally:
        sys.path.remove(str(EXTENSIONS))
    assert graflow_docs.PUBLIC_MODULES == PUBLIC_MODULES
