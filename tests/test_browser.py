"""A real headless Chromium (Debian's) opens the rendered book: math typeset, images loaded, no
unexpected JavaScript errors. Nothing leaves the machine: pages are served from localhost, the
MathJax CDN request is answered from a local copy of MathJax 3, and every other outside request is
aborted and reported.
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
MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# JavaScript console errors that come from the theme itself, not from our content, by exact message.
KNOWN_THEME_NOISE = {
    # sphinx-thebe's loader script is included twice by Jupyter Book 1.0 + sphinx-book-theme 1.x
    "Identifier 'THEBE_JS_URL' has already been declared",
    # pydata-sphinx-theme reads an unset light/dark preference from localStorage in a fresh profile
    "Got invalid theme mode: . Resetting to auto.",
}


def _local_mathjax() -> Path:
    import mathjax  # the django-static-mathjax package: MathJax 3.2.2's files, no Django needed

    return Path(mathjax.__file__).parent / "static" / "mathjax"


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


def _open(browser, url):
    page = browser.new_page()
    errors, outside = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    mathjax_root = _local_mathjax()

    def route(r):
        req_url = r.request.url
        if req_url.startswith("http://127.0.0.1"):
            return r.continue_()
        if req_url.startswith(MATHJAX_CDN):
            local = mathjax_root / req_url[len(MATHJAX_CDN):].split("?")[0]
            if local.is_file():
                return r.fulfill(path=str(local))
        outside.append(req_url)
        return r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="networkidle")
    return page, errors, outside


def _images_loaded(page) -> tuple[int, list[str]]:
    imgs = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.complete && e.naturalWidth > 0])")
    return len(imgs), [src for src, ok in imgs if not ok]


def test_index_page(browser, server):
    page, errors, outside = _open(browser, f"{server}/index.html")
    assert "Large language models from the ground up" in page.title()
    _, broken = _images_loaded(page)
    assert not broken, broken
    unexpected = [e for e in errors if e not in KNOWN_THEME_NOISE]
    assert not unexpected, unexpected
    page.close()


def test_chapter_page_math_and_figures(browser, server):
    page, errors, outside = _open(browser, f"{server}/chapters/02_rules_to_learning.html")
    page.wait_for_selector("mjx-container", timeout=20_000)
    typeset = page.eval_on_selector_all("mjx-container", "els => els.length")
    assert typeset > 0, "no formula was typeset by MathJax"
    raw_tex = page.evaluate("() => document.body.innerText.includes('\\\\frac')")
    assert not raw_tex, "raw TeX is left on the page"
    n_images, broken = _images_loaded(page)
    assert n_images > 0 and not broken, broken
    unexpected = [e for e in errors if e not in KNOWN_THEME_NOISE]
    assert not unexpected, unexpected
    assert not [u for u in outside if "mathjax" in u.lower()], "MathJax was not served locally"
    if os.environ.get("LLMCOURSE_SCREENSHOTS"):  # for looking at the page by eye
        page.screenshot(path=os.path.join(os.environ["LLMCOURSE_SCREENSHOTS"], "chapter02.png"), full_page=True)
    page.close()
