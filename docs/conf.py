"""Sphinx configuration of the brainmass-widgets documentation.

The teaching notebooks live in ``../notebooks`` without outputs. At every build they are copied
into ``notebooks/`` here (ignored by git, refreshed only where a notebook changed) and executed by
myst-nb, so the pages show their outputs.
"""

from __future__ import annotations

import contextlib
import filecmp
import inspect
import io
import os
import shutil
from pathlib import Path
from typing import Any

import param
from docutils import nodes
from sphinx.util.docutils import SphinxDirective

import brainmass_widgets
from brainmass_widgets import cli

DOCS = Path(__file__).resolve().parent
NOTEBOOKS = DOCS.parent / "notebooks"
NOTEBOOK_COPIES = DOCS / "notebooks"


def copy_notebooks(source: Path = NOTEBOOKS, target: Path = NOTEBOOK_COPIES) -> list[str]:
    """Mirror ``source/*.ipynb`` into ``target``: copy new or changed notebooks, delete the rest.

    A notebook whose copy is already identical is left alone, so its page is not rebuilt.
    Returns the notebooks' names, sorted.
    """
    target.mkdir(exist_ok=True)
    names = sorted(p.name for p in source.glob("*.ipynb"))
    for name in names:
        copy = target / name
        if not copy.exists() or not filecmp.cmp(source / name, copy, shallow=False):
            shutil.copyfile(source / name, copy)
    for stale in target.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
    return names


copy_notebooks()

FOREIGN_DESCRIPTORS = ("traitlets", "ipywidgets", "param", "panel", "bokeh")

project = "brainmass-widgets"
author = "brainmass-widgets contributors"
copyright = "brainmass-widgets contributors"
release = brainmass_widgets.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
html_static_path = ["_static"]

html_theme = "pydata_sphinx_theme"
html_title = "brainmass-widgets"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# Bokeh's notebook outputs pair the rendered application/javascript with BokehJS's own
# application/vnd.bokehjs_* types, which myst-nb reports as unknown while it renders every type of
# a bundle (it picks the javascript one afterwards).
suppress_warnings = ["mystnb.unknown_mime_type"]

autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def serve_help(columns: int = 100) -> str:
    """The text ``brainmass-widgets serve --help`` prints, wrapped at ``columns``."""
    out = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            cli.main(["serve", "--help"])
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return out.getvalue()


class ServeHelp(SphinxDirective):
    """``serve-help``: the current ``brainmass-widgets serve --help`` as a literal block."""

    def run(self) -> list[nodes.Node]:
        text = serve_help()
        block = nodes.literal_block(text, text, language="text")
        return [block]


def _defining_module(member: Any) -> str | None:
    """The module a class member comes from, where it can be told (else ``None``)."""
    member = getattr(member, "fget", None) or getattr(member, "__func__", None) or member
    owner = getattr(member, "__objclass__", None)
    if owner is not None:
        return owner.__module__
    if inspect.isroutine(member) or inspect.isclass(member):
        return getattr(member, "__module__", None)
    module = type(member).__module__
    return module if module.split(".")[0] in FOREIGN_DESCRIPTORS else None


def skip_foreign_members(app, what, name, obj, skip, options) -> bool | None:
    """Leave out what a class inherits from ipywidgets, traitlets, Panel, param or builtins."""
    module = _defining_module(obj) if what == "class" else None
    if module is not None and not module.startswith("brainmass_widgets"):
        return True
    return None


def document_param_state(app, what, name, obj, options, lines) -> None:
    """List a Panel explorer's ``param`` parameters (its typed, watchable state) after its docstring."""
    if what != "class" or not inspect.isclass(obj) or not issubclass(obj, param.Parameterized):
        return
    own = [(key, p) for key, p in obj.param.objects("existing").items()
           if key != "name" and p.owner.__module__.startswith("brainmass_widgets")]
    if not own:
        return
    lines += ["", ".. rubric:: Param state", "",
              "Typed ``param`` parameters, watchable and kept in step with the widgets:", ""]
    for key, p in own:
        lines += [f"``{key}`` : {type(p).__name__}", f"    {p.doc}", ""]


def setup(app):
    app.add_directive("serve-help", ServeHelp)
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.connect("autodoc-process-docstring", document_param_state)
    return {"parallel_read_safe": True}
