"""A real headless Chromium (Debian's) opens the rendered book: math typeset, images loaded, no
unexpected JavaScript errors. The network is blocked: pages are served from 127.0.0.1 (or opened
from disk), every other request is aborted, and a test fails if a page asked for anything outside —
MathJax included, which the book serves itself from ``_static/mathjax`` (``_ext/local_mathjax.py``).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# JavaScript console errors that come from the theme itself, not from our content, by exact message.
KNOWN_THEME_NOISE = {
    # sphinx-thebe's loader script is included twice by Jupyter Book 1.0 + sphinx-book-theme 1.x
    "Identifier 'THEBE_JS_URL' has already been declared",
    # pydata-sphinx-theme reads an unset light/dark preference from localStorage in a fresh profile
    "Got invalid theme mode: . Resetting to auto.",
}


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is required at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url, offline=False):
    """Open ``url`` with every request that leaves the machine aborted; returns the page, the
    JavaScript errors, the outside URLs that were asked for (all aborted) and every URL requested.
    ``offline``: the browser context is offline as well (for pages opened from disk)."""
    page = browser.new_context(offline=offline).new_page()
    errors, outside, requested = [], [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

    def route(r):
        req_url = r.request.url
        requested.append(req_url)
        if req_url.startswith(("http://127.0.0.1:", "file://")):
            return r.continue_()
        outside.append(req_url)
        return r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="networkidle" if not offline else "load")
    return page, errors, outside, requested


def _images_loaded(page) -> tuple[int, list[str]]:
    imgs = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.complete && e.naturalWidth > 0])")
    return len(imgs), [src for src, ok in imgs if not ok]


def _math_typeset(page) -> None:
    page.wait_for_selector("mjx-container", timeout=20_000)
    typeset = page.eval_on_selector_all("mjx-container", "els => els.length")
    assert typeset > 0, "no formula was typeset by MathJax"
    raw_tex = page.evaluate("() => document.body.innerText.includes('\\\\frac')")
    assert not raw_tex, "raw TeX is left on the page"
    # MathJax's own fonts were loaded (from the book, as nothing else can be reached)
    page.evaluate("async () => { await document.fonts.ready; return true; }")
    fonts = page.evaluate("() => [...document.fonts].filter(f => f.family.startsWith('MJX')).map(f => f.status)")
    assert "loaded" in fonts, f"no MathJax font loaded: {fonts}"


def test_index_page(browser, server):
    page, errors, outside, _ = _open(browser, f"{server}/index.html")
    assert "Large language models from the ground up" in page.title()
    _, broken = _images_loaded(page)
    assert not broken, broken
    unexpected = [e for e in errors if e not in KNOWN_THEME_NOISE]
    assert not unexpected, unexpected
    assert not outside, f"the page asked for outside resources: {outside}"
    page.context.close()


def test_chapter_page_math_and_figures(browser, server):
    page, errors, outside, requested = _open(browser, f"{server}/chapters/02_rules_to_learning.html")
    _math_typeset(page)
    assert any(u.startswith(f"{server}/_static/mathjax/") for u in requested), "MathJax was not loaded from the book"
    n_images, broken = _images_loaded(page)
    assert n_images > 0 and not broken, broken
    unexpected = [e for e in errors if e not in KNOWN_THEME_NOISE]
    assert not unexpected, unexpected
    assert not outside, f"the page asked for outside resources: {outside}"
    if os.environ.get("LLMCOURSE_SCREENSHOTS"):  # for looking at the page by eye
        page.screenshot(path=os.path.join(os.environ["LLMCOURSE_SCREENSHOTS"], "chapter02.png"), full_page=True)
    page.context.close()


def test_book_opened_from_disk_typesets_math_offline(browser, built_book):
    """``_build/html/index.html`` opened from disk, with the network blocked, reads like the site."""
    page, errors, outside, _ = _open(browser, (built_book / "index.html").as_uri(), offline=True)
    assert "Large language models from the ground up" in page.title()
    assert not outside, f"the page asked for outside resources: {outside}"
    page.context.close()
    page, errors, outside, requested = _open(browser, (built_book / "chapters" / "02_rules_to_learning.html").as_uri(),
                                             offline=True)
    _math_typeset(page)
    mathjax = (built_book / "_static" / "mathjax").as_uri()
    assert any(u.startswith(mathjax) for u in requested), "MathJax was not loaded from the book's folder"
    n_images, broken = _images_loaded(page)
    assert n_images > 0 and not broken, broken
    unexpected = [e for e in errors if e not in KNOWN_THEME_NOISE]
    assert not unexpected, unexpected
    assert not outside, f"the page asked for outside resources: {outside}"
    page.context.close()
