"""MathJax served by the book itself, so formulas typeset without a network connection — on the
published site, and in ``_build/html/index.html`` opened from disk.

Sphinx loads MathJax 3 from a CDN by default. This extension (listed under ``local_extensions`` in
``_config.yml``) points ``mathjax_path`` at ``_static/mathjax/tex-mml-chtml.js`` instead — the same
MathJax 3 component, by a URL relative to each page, so it also works from ``file://`` — and, after
an HTML build, copies MathJax's browser files (its ``es5`` folder: the component, the fonts and the
pieces it loads on demand) into ``_static/mathjax/``. The files come from the Python package
``django-static-mathjax`` (MathJax 3.2.2; its module ``mathjax`` needs no Django), a dependency of
the ``book`` extra.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FOLDER = "mathjax"                # under the build's _static/
COMPONENT = "tex-mml-chtml.js"    # TeX and MathML in, HTML-CSS out: the component Sphinx's default URL names


def mathjax_files() -> Path:
    """The folder of MathJax 3's browser files inside the installed django-static-mathjax package."""
    import mathjax

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / COMPONENT).is_file():
        raise FileNotFoundError(f"{es5 / COMPONENT} is missing: reinstall django-static-mathjax")
    return es5


def _use_local_copy(app, config) -> None:
    config.mathjax_path = f"{FOLDER}/{COMPONENT}"  # relative: Sphinx prefixes _static/ as seen from each page


def _copy_files(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    shutil.copytree(mathjax_files(), Path(app.outdir) / "_static" / FOLDER, dirs_exist_ok=True)


def setup(app):
    mathjax_files()  # fail at the start of a build, not after it, when the files are not installed
    app.connect("config-inited", _use_local_copy)
    app.connect("build-finished", _copy_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
