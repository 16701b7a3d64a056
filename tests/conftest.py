"""Shared test set-up: offline guard, the tiny preset for what tests start, the one cpu execution of the book, helpers for notebooks."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).parent / "netguard"

# --- offline: this process and every Python process it starts refuse non-loopback connections ---
# one log for the whole run: pytest-xdist workers inherit the controller's, which checks it at the end
if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("LLMCOURSE_NETWORK_LOG"):
    _NET_LOG = Path(os.environ["LLMCOURSE_NETWORK_LOG"])
else:
    _NET_LOG = Path(tempfile.mkdtemp(prefix="llmcourse-net-")) / "network.log"
    os.environ["LLMCOURSE_NETWORK_LOG"] = str(_NET_LOG)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(NETGUARD)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
import importlib.util  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import executed_book as _executed_book  # noqa: E402

_loaded = sys.modules.get("sitecustomize")
if _loaded is not None and Path(getattr(_loaded, "__file__", "") or "").parent == NETGUARD:
    netguard = _loaded  # a process started with our PYTHONPATH (an xdist worker) has the guard already
else:
    _spec = importlib.util.spec_from_file_location("llmcourse_netguard", NETGUARD / "sitecustomize.py")
    netguard = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(netguard)  # installs the guard in this process

# --- the tiny preset for everything the tests start, unless a test asks for another ---
os.environ["LLMCOURSE_PRESET"] = "tiny"
os.environ["LLMCOURSE_QUIET"] = "1"  # no progress bars in test output or in the HTML
# (no MPLBACKEND here: notebook kernels need their inline backend to show figures; in this process
# matplotlib falls back to Agg by itself on a machine without a display)
os.environ.pop("MPLBACKEND", None)
# Notebooks must run on this environment's Python even when the user has another `python3`
# kernelspec in ~/.local/share/jupyter: put this environment's kernels first.
_VENV_JUPYTER = Path(sys.prefix) / "share" / "jupyter"
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    [str(_VENV_JUPYTER)] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
)


# --- with pytest-xdist (`make test` runs two workers): every test that reads the cpu execution of the book
# (claims, notebook runs, the book build and its HTML, the browser) runs on one worker, which executes
# the book once; the tiny-preset runs with the solutions form a second group; the other tests of a
# module stay together, so a module's fixtures are computed once.
BOOK_GROUP_MODULES = {"test_book", "test_browser", "test_colab"}  # test_colab converts chapter 1 of that execution
TINY_TESTS = ("::test_notebook_runs_in_tiny_preset", "::test_solutions_run_and_pass_their_checkers")


def xdist_group(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    if any(t in nodeid for t in TINY_TESTS):
        return "tiny"
    if module in BOOK_GROUP_MODULES or "::test_claim" in nodeid or "::test_notebook_runs_at_cpu" in nodeid:
        return "book"
    return module


if importlib.util.find_spec("xdist") is not None:
    def pytest_xdist_make_scheduler(config, log):
        from xdist.scheduler import LoadScopeScheduling

        class ByGroup(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return xdist_group(nodeid)

        return ByGroup(config, log)


BOOK_FIXTURES = {"executed_book", "tiny_runs", "built_book"}


def pytest_collection_modifyitems(config, items):
    """A test that needs an execution of the book is slow (``make test-fast`` leaves it out)."""
    for item in items:
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session, exitstatus):
    if _NET_LOG.exists() and _NET_LOG.read_text().strip():
        print("\nNETWORK ACCESS DURING TESTS (not allowed):\n" + _NET_LOG.read_text(), file=sys.stderr)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def book_config() -> dict:
    with open(ROOT / "_config.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def toc_files() -> list[str]:
    """Every file listed in _toc.yml, in reading order, without extension."""
    return _executed_book.toc_files(ROOT)


def toc_notebooks() -> list[Path]:
    return _executed_book.toc_notebooks(ROOT)


BOOK_PRESET = "cpu"  # the preset the book is executed at, once per test session: claims, build, make book


def glue_names(nb) -> tuple[set[str], set[str]]:
    """(names the prose shows with {glue:text}, names a code cell glues with a literal glue("name", ...))."""
    import re

    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return (set(re.findall(r"\{glue:text\}`([a-z_0-9]+)", prose)),
            set(re.findall(r'glue\(\s*"([a-z_0-9]+)"', code)))


def solution_code(nb) -> list[tuple[str, str]]:
    """(label, code) for every ```python block inside a {solution} directive of the notebook."""
    import re

    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or "{solution}" not in cell.source:
            continue
        for fence, label, body in re.findall(r"^(`{3,}|:{3,})\{solution\}\s*(\S+)\n(.*?)^\1[ \t]*$", cell.source, re.S | re.M):
            for code in re.findall(r"^```python\n(.*?)^```[ \t]*$", body, re.S | re.M):
                found.append((label, code))
    return found


@pytest.fixture(scope="session")
def executed_book(tmp_path_factory):
    """The book executed once per test session at the ``cpu`` preset, the preset the published book
    uses: every notebook of _toc.yml top to bottom in a fresh kernel, two at a time, each started
    when a test first asks for it (``book.notebook(path)``, ``book.glue(stem)``) or all at once
    (``book.results()``). Its outputs serve the claims tests (the glued values readers see), the
    strict book build, and — kept in ``_build/executed/cpu`` with a stamp of the sources — ``make book``.
    """
    run = _BookForTests(tmp_path_factory.mktemp("book-src"), BOOK_PRESET)
    yield run
    run.close()


class _BookForTests(_executed_book.BookRun):
    def glue(self, stem: str) -> dict:
        """The glued values of the executed chapter ``stem`` (e.g. ``"05_language_models"``)."""
        matches = [n for n in self.notebooks if n.stem == stem]
        if not matches:
            raise KeyError(f"no notebook {stem!r} in _toc.yml")
        return _executed_book.glue_values(self.notebook(matches[0]))


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Every notebook run top to bottom in the ``tiny`` preset, each followed — in the same kernel —
    by the code of every solution it shows, so the solutions the book prints are known to run.
    (The claims come from the cpu execution; this run checks that the tiny preset, used for quick
    iteration and Colab smoke runs, runs every code path, and that the solutions run.)"""
    run = _executed_book.BookRun(tmp_path_factory.mktemp("tiny-src"), "tiny", solutions=solution_code)
    yield run.results()
    run.close()


@pytest.fixture(scope="session")
def built_book(tmp_path_factory, executed_book) -> Path:
    """The whole book built strictly (-W -n: warnings are errors) from the cpu execution of
    ``executed_book``; returns the _build/html folder. Keeps that execution for ``make book``."""
    import subprocess

    results = executed_book.results()
    failed = [str(k) for k, (_, error, _) in results.items() if error is not None]
    if failed:
        pytest.fail(f"notebooks failed at the {BOOK_PRESET} preset, no book to build: {failed}")
    executed_book.keep()
    root = executed_book.root
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["execute_notebooks"] = "off"
    (root / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jb), "build", str(root), "--path-output", str(out), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, env={**os.environ, "LLMCOURSE_PRESET": BOOK_PRESET}, timeout=1800,
    )
    log = result.stdout + result.stderr
    (out / "build.log").write_text(log)
    if result.returncode != 0:
        pytest.fail(f"strict book build failed (exit {result.returncode}):\n{log[-6000:]}")
    return out / "_build" / "html"
