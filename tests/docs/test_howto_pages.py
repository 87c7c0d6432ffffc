"""Issue 30's "each how-to page's code runs as written, checked at build": every how-to
guide is a MyST-NB page the docs build executes, every code block on it is a cell that
runs (no plain fenced code a reader could copy that the build never ran), the build
fails on a cell that raises, and the guides' index lists each page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = sorted(p for p in (DOCS / "howto").glob("*.md") if p.name != "index.md")
FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")


def front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "no front matter: MyST-NB executes only pages that declare a kernel"
    return yaml.safe_load(match.group(1))


def fences(text: str) -> list[str]:
    """The info string of every fenced block that opens at the top level."""
    opened, infos = None, []
    for line in text.splitlines():
        match = FENCE.match(line)
        if not match:
            continue
        if opened is None:
            opened = match.group(1)
            infos.append(match.group(2).strip())
        elif match.group(1) == opened and not match.group(2).strip():
            opened = None
    assert opened is None, "a fenced block is never closed"
    return infos


def test_the_guides_the_issue_names_exist():
    assert {p.stem for p in GUIDES} >= {
        "fan-out", "merge-conflicts", "approval", "checkpoints", "dask", "debug-branch", "graflow-code"
    }


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: p.name)
def test_each_guide_is_executed_and_all_its_code_is_cells(page):
    text = page.read_text(encoding="utf-8")
    meta = front_matter(text)
    assert meta["file_format"] == "mystnb"
    assert meta["kernelspec"]["name"] == "python3"
    blocks = fences(text)
    assert blocks, "a guide with no code to run"
    not_run = [info for info in blocks if not info.startswith("{code-cell}") and not info.startswith("{graphviz}")]
    assert not_run == [], f"{page.name}: code blocks the build does not run: {not_run}"


def test_the_guides_index_lists_every_guide():
    index = (DOCS / "howto" / "index.md").read_text(encoding="utf-8")
    toctree = re.search(r"```\{toctree\}\n(.*?)```", index, re.S).group(1)
    listed = {line.strip() for line in toctree.splitlines() if line.strip() and not line.startswith(":")}
    assert listed == {p.stem for p in GUIDES}


def test_the_build_executes_every_page_and_fails_on_a_cell_that_raises():
    settings: dict = {"__file__": str(DOCS / "conf.py")}
    exec(compile((DOCS / "conf.py").read_text(encoding="utf-8"), "docs/conf.py", "exec"), settings)
    assert settings["nb_execution_mode"] == "force"  # never a stored output
    assert settings["nb_execution_raise_on_error"] is True
    assert settings["nb_execution_timeout"] > 0
    # nothing fetched at build time
    assert not [e for e in settings["extensions"] if "intersphinx" in e]
    assert settings["nb_ipywidgets_js"] == {}
