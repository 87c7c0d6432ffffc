"""Sphinx configuration for graflow_nb's documentation site (``make docs``).

Sphinx with MyST-NB and pydata-sphinx-theme, the PyData projects' defaults: MyST lets
every page be Markdown, MyST-NB executes the teaching notebooks and the how-to pages
at build time (a cell that raises fails the build), and autodoc writes the API
reference from the docstrings and type hints. Nothing is fetched from the network:
no intersphinx, no CDN widget scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import graflow_nb  # noqa: E402

project = "graflow_nb"
author = "the graflow_nb authors"
copyright = "the graflow_nb authors, Apache-2.0"
version = release = graflow_nb.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinx.ext.viewcode",
    "graflow_docs",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "tutorials/nbval_sanitize.cfg"]
suppress_warnings: list[str] = []

# -- MyST and MyST-NB -------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# Every notebook and every how-to page runs once per build, top to bottom, in the
# python3 kernel; a cell that raises (or runs past the timeout) fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
# Widgets need a kernel: a built page shows their text fallback, as a saved notebook
# does, and pulls no widget scripts from a CDN.
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_merge_streams = True

# -- autodoc ----------------------------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False
graphviz_output_format = "svg"

# -- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"graflow_nb {release}"
html_static_path: list[str] = []
html_theme_options = {
    "github_url": "https://github.com/graflow-nb/graflow_nb",
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}

# The Binder button on each tutorial opens that notebook in notebooks/ (binder/ sets up
# the environment: Graphviz, the dependencies, the extension loaded in every kernel).
graflow_binder_url = "https://mybinder.org/v2/gh/graflow-nb/graflow_nb/HEAD?labpath=notebooks/{name}"
