"""What the docs build adds to Sphinx for graflow_nb.

- A Binder button at the top of each tutorial, opening that notebook in ``notebooks/``.
- The API reference's contract, as build warnings (``make test`` builds with ``-W``, so
  each one fails it): every public name of the modules in ``PUBLIC_MODULES`` has an
  entry at a public import path, and every documented function or class has a
  docstring of its own.
- A class's signature is its ``__init__``'s even when a base class defines ``__new__``
  (the widgets' traitlets base does).
- Type hints that name an internal module (``graflow_nb.observe.render.Render``) link to
  the entry of the same object at its public path (``graflow_nb.observe.Render``), so
  the reference never shows or needs internal module paths.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from docutils import nodes
from public_modules import PUBLIC_MODULES  # beside this file: conf.py puts _ext on the path
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.inspect import signature as sphinx_signature
from sphinx.util.inspect import stringify_signature

logger = logging.getLogger(__name__)



def public_names() -> dict[str, Any]:
    """Every ``module.name`` of ``PUBLIC_MODULES``' ``__all__``, with its object."""
    found: dict[str, Any] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            found[f"{module_name}.{name}"] = getattr(module, name)
    return found


def has_own_docstring(obj: Any) -> bool:
    """A function or class documented by itself (a class's ``__doc__`` is never inherited)."""
    return bool((getattr(obj, "__doc__", None) or "").strip())


def link_to_tutorial_pages(app: Sphinx, doctree: nodes.document) -> None:
    """``docs/tutorials`` is a link to ``notebooks/``, so a page's link to a tutorial
    (``tutorials/02_diamond_problem.ipynb``, or a notebook's to its neighbour) resolves
    to the real folder, outside the site: point it back at the tutorial page."""
    notebooks = (Path(app.srcdir) / "tutorials").resolve()
    for ref in doctree.findall(addnodes.pending_xref):
        target = Path(ref.get("reftarget", ""))
        if ref.get("reftype") == "myst" and target.is_absolute() and target.parent == notebooks:
            ref["reftarget"] = f"tutorials/{target.name}"


def add_binder_button(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    if not docname.startswith("tutorials/"):
        return
    name = docname.split("/", 1)[1] + ".ipynb"
    url = app.config.graflow_binder_url.format(name=name)
    logo = "https://mybinder.org/badge_logo.svg"
    # a remote image, linked as is (never fetched); added after Sphinx collected images
    badge = nodes.image(uri=logo, alt="Launch on Binder", candidates={"?": logo})
    link = nodes.reference("", "", badge, refuri=url, classes=["binder-button"])
    note = nodes.paragraph("", "", link, nodes.Text(f" runs notebooks/{name} in JupyterLab on mybinder.org"))
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    title_at = next((i for i, child in enumerate(section.children) if isinstance(child, nodes.title)), -1)
    section.insert(title_at + 1, note)


def check_the_reference(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn (an error under ``-W``) for a public name with no entry, and for a
    documented function or class without a docstring of its own."""
    documented = env.get_domain("py").objects  # type: ignore[attr-defined]
    names = public_names()
    entries = {id(obj) for path, obj in names.items() if path in documented}
    app.graflow_public_by_object = {  # type: ignore[attr-defined]
        id(obj): path for path, obj in names.items() if path in documented
    }
    for path, obj in names.items():
        if path not in documented and id(obj) not in entries:
            logger.warning("%s is public but has no entry in the API reference (docs/api/)", path)
        elif path in documented and (inspect.isclass(obj) or inspect.isroutine(obj)) and not has_own_docstring(obj):
            logger.warning("%s has no docstring: say what it is for", path)


def public_target(target: str, by_object: dict[int, str]) -> str | None:
    """The public path of the object an internal dotted path names, if it has one."""
    module_name, _, name = target.rpartition(".")
    if not module_name.startswith("graflow_nb"):
        return None
    try:
        obj = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return None
    return by_object.get(id(obj))


def resolve_internal_paths(app: Sphinx, env: BuildEnvironment, node: Any, contnode: nodes.Element) -> Any:
    if node.get("refdomain") != "py":
        return None
    by_object = getattr(app, "graflow_public_by_object", {})
    target = public_target(node["reftarget"], by_object)
    if target is None:
        return None
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
    )


def own_init_signature(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None, return_annotation: str | None
) -> tuple[str, str | None] | None:
    """A widget's signature is its ``__init__``'s, not the ``(*args, **kwargs)`` of the
    ``__new__`` that ipywidgets' base class (traitlets) defines."""
    if what != "class" or "__init__" not in vars(obj) or (signature and "*args" not in signature):
        return None
    init = sphinx_signature(obj.__init__, bound_method=True, type_aliases=app.config.autodoc_type_aliases)
    return stringify_signature(init, show_return_annotation=False), return_annotation


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("graflow_binder_url", "", "html")
    app.connect("doctree-read", link_to_tutorial_pages)
    app.connect("doctree-read", add_binder_button)
    app.connect("env-check-consistency", check_the_reference)
    app.connect("missing-reference", resolve_internal_paths)
    app.connect("autodoc-process-signature", own_init_signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
