"""Shared test set-up: offline guard, the tiny preset, a private cache, helpers for notebooks."""

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
import student_edition as _student_edition  # noqa: E402

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


# --- with pytest-xdist (`make test` runs two workers): all tests of one module run on one worker, so a
# module's fixtures are computed once; modules that share a session fixture share a worker too: the
# executed book (notebooks, book build, browser) and chapter 7's trained models (chapters 7 and 8).
XDIST_GROUPS = {"test_notebooks": "book", "test_book": "book", "test_browser": "book",
                "test_ch07": "recurrent", "test_ch08": "recurrent"}

if importlib.util.find_spec("xdist") is not None:
    def pytest_xdist_make_scheduler(config, log):
        from xdist.scheduler import LoadScopeScheduling

        class ByModuleGroup(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
                return XDIST_GROUPS.get(module, module)

        return ByModuleGroup(config, log)


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
    return _student_edition.toc_files(ROOT)


def toc_notebooks() -> list[Path]:
    return [ROOT / f"{f}.ipynb" for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]


BOOK_FILES = ["_config.yml", "_toc.yml", "index.md", "references.bib"]


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


def _execute(path: Path):
    """Run one notebook top to bottom in a fresh kernel, then — in the same kernel, after the last
    cell — the code of every solution, so the solutions the book shows are known to run.
    Returns (notebook without the solution cells, seconds, error or None, solution outputs)."""
    import time

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    solutions = solution_code(nb)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error, solution_results = None, []
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells[:n_cells]):
                client.execute_cell(cell, index)
            seconds = time.perf_counter() - start
            for label, code in solutions:
                cell = nbformat.v4.new_code_cell(code)
                nb.cells.append(cell)
                try:
                    client.execute_cell(cell, len(nb.cells) - 1)
                    solution_results.append((label, None, cell.outputs))
                except CellExecutionError as err:
                    solution_results.append((label, err, cell.outputs))
    except CellExecutionError as err:  # reported by the notebook test, with the cell
        error = err
        seconds = time.perf_counter() - start
    del nb.cells[n_cells:]
    return nb, seconds, error, solution_results


@pytest.fixture(scope="session")
def executed_book(tmp_path_factory):
    """A copy of the book's sources whose notebooks have each been run top to bottom in the tiny
    preset, each in a fresh kernel (two at a time: one per core), followed by their solutions'
    code. Returns (root, {path: (seconds, error, [(solution label, error, outputs)])}). The notebook tests read the outputs; the book build renders this copy, so every
    notebook is executed once per test run rather than twice."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    import nbformat

    root = tmp_path_factory.mktemp("book-src")
    for name in BOOK_FILES:
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "chapters", root / "chapters")
    copies = [root / p.relative_to(ROOT) for p in toc_notebooks()]
    results = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for path, (nb, seconds, error, solutions) in zip(copies, pool.map(_execute, copies)):
            nbformat.write(nb, path)
            results[path.relative_to(root)] = (seconds, error, solutions)
    return root, results


@pytest.fixture(scope="session")
def built_book(tmp_path_factory, executed_book) -> Path:
    """The whole book built strictly (-W -n: warnings are errors) from the executed notebooks of
    ``executed_book`` (tiny preset); returns the _build/html folder. `make book` executes the
    notebooks itself (execute_notebooks: force — test_notebooks checks the setting)."""
    import subprocess

    root, _ = executed_book
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["execute_notebooks"] = "off"
    (root / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jb), "build", str(root), "--path-output", str(out), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, env={**os.environ, "LLMCOURSE_PRESET": "tiny"}, timeout=1800,
    )
    log = result.stdout + result.stderr
    (out / "build.log").write_text(log)
    if result.returncode != 0:
        pytest.fail(f"strict book build failed (exit {result.returncode}):\n{log[-6000:]}")
    return out / "_build" / "html"


# --- chapter 7's cpu-preset models, trained once for the claims of chapters 7 and 8 ---
@pytest.fixture(scope="session")
def chapter7_cpu():
    """Chapter 7's experiments at the cpu preset and its seed, run once per session for the claims
    of chapters 7 and 8. The n-gram numbers are computed as chapter 5 computes them
    (``ngram_sweep``)."""
    from llmcourse.experiments import language_models
    from llmcourse.config import preset
    from llmcourse.experiments import recurrent as rec

    cfg = preset("cpu")
    data = rec.char_data(cfg)
    models = rec.train_chapter_models(cfg, data)
    windows = rec.gradient_windows(cfg, data)
    sweep = language_models.ngram_sweep(cfg)
    out = {
        "cfg": cfg, "data": data, "models": models, "sweep": sweep,
        "ngram": {name: bits for name, bits, _ in language_models.ngram_scores(sweep)},
        "scores": {k: rec.score(r.model, data) for k, r in models.items()},
        "scaled": rec.scaled_rnn_gradients(cfg, data, rec.RECURRENT_SCALES),
        "trained_gradients": {k: rec.gradient_by_distance(r.model, windows) for k, r in models.items()},
        "samples": rec.samples(models[rec.GATED_CELL].model, data.tokenizer, cfg.lm.sample_chars, seed=cfg.seed),
        "far": min(rec.GRADIENT_DISTANCE, cfg.rnn.gradient_len - 1),
    }
    out["mixture"] = rec.mix(out["scores"][rec.GATED_CELL].log_probs, rec.kneser_ney_log_probs(sweep, data))
    return out
