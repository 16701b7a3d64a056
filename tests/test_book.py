"""The strict book build (tiny preset) and checks of the HTML it renders."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, toc_files

pytestmark = pytest.mark.slow


def _page(html_root, entry):
    path = html_root / f"{entry}.html"
    assert path.exists(), f"missing page {path}"
    return path.read_text(encoding="utf-8")


def test_build_has_no_warnings(built_book):
    log = (built_book.parent.parent / "build.log").read_text()
    assert "WARNING:" not in log, log[-4000:]  # Sphinx warnings (the kernel's "WARNING |" lines are not Sphinx's)
    assert (built_book / "index.html").exists()


@pytest.mark.parametrize("entry", [f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()])
def test_chapter_page(built_book, entry, book_config):
    html = _page(built_book, entry)
    # executed outputs, figures that exist on disk
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    figures = [src for src in images if "_images/" in src]
    assert figures, f"{entry} shows no figure"
    page_dir = (built_book / entry).parent
    for src in figures:
        assert (page_dir / src).resolve().exists(), f"{entry}: image {src} is missing"
    # a Colab link to this chapter's notebook in the Colab edition (the colab branch, make colab)
    url = book_config["repository"]["url"].removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{url}/blob/colab/{entry}.ipynb"
    assert colab in html, f"{entry}: no Colab link {colab}"
    # no error output (myst-nb renders an error output as a "traceback" output block)
    for bad in ('class="output traceback', "Traceback (most recent call last)"):
        assert bad not in html, f"{entry} shows an error output ({bad!r})"
    # a chapter's exercises and collapsed solutions (appendix pages have none)
    if entry.startswith("chapters/appendix/"):
        return
    assert html.count('class="admonition exercise') >= 3 or html.count("exercise admonition") >= 3
    assert "dropdown" in html


def test_index_and_references(built_book):
    index = _page(built_book, "index")
    assert "Large language models from the ground up" in index
    refs = _page(built_book, "chapters/appendix/references")
    assert "Bengio" in refs
