"""One execution of the book, three uses: the claims tests, the strict book build and ``make book``.

Each notebook in ``_toc.yml`` runs top to bottom in a fresh kernel at a preset (``cpu`` for the
book), two kernels at a time. The executed copies are kept in ``_build/executed/<preset>/`` with
``stamp.json``: a SHA-256 over everything that decides what the notebooks print (the notebooks, the
package's source, the book's configuration, the preset) plus the seconds each notebook took.

* ``make test`` executes the book once (``tests/conftest.py``), asserts the prose's claims on the
  glued values of that execution (``glue_values``), builds the book strictly from it, and leaves
  the copies behind with their stamp.
* ``make book`` (``python tools/executed_book.py build``) renders those copies when their stamp
  matches the sources; otherwise it lets Jupyter Book execute every notebook itself.

Glued values are read back from the outputs of ``llmcourse.glue`` (MyST-NB's ``glue``): the
``text/plain`` form of a Python literal (a number, a string, a list, a dict, ...) is parsed with
``ast.literal_eval`` — never ``eval`` —, anything else is kept as its MIME bundle.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK_FILES = ["_config.yml", "_toc.yml", "index.md", "references.bib", "_ext/local_mathjax.py"]
STAMP = "stamp.json"
_STAMP_FORMAT = 1


def toc_files(root: Path = ROOT) -> list[str]:
    """Every file listed in _toc.yml (root page first), in reading order, without extension."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return files


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    return [root / f"{f}.ipynb" for f in toc_files(root) if (root / f"{f}.ipynb").exists()]


def source_digest(preset: str, root: Path = ROOT) -> str:
    """SHA-256 over what decides the executed outputs: the preset's name, the book's files, every
    file under chapters/ and llmcourse/ (Python and notebooks), and pyproject.toml."""
    h = hashlib.sha256(f"preset={preset}\n".encode())
    paths = [root / name for name in BOOK_FILES + ["pyproject.toml"]]
    for folder, pattern in (("chapters", "*"), ("llmcourse", "*.py")):
        paths += sorted(p for p in (root / folder).rglob(pattern) if p.is_file() and "__pycache__" not in p.parts
                        and ".ipynb_checkpoints" not in p.parts)
    for path in paths:
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------- running notebooks
def execute(path: Path, preset: str, solutions: list[tuple[str, str]] = (), timeout: int = 900):
    """Run the notebook at ``path`` top to bottom in a fresh kernel with ``LLMCOURSE_PRESET=preset``,
    then — in the same kernel — each ``(label, code)`` of ``solutions``. Returns ``(notebook with
    outputs, seconds, error or None, [(label, error or None, outputs)])``; the solution cells are not
    left in the notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    env = {**os.environ, "LLMCOURSE_PRESET": preset, "LLMCOURSE_QUIET": "1"}
    start = time.perf_counter()
    error, solution_results = None, []
    try:
        with client.setup_kernel(env=env):
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
    except CellExecutionError as err:
        error = err
        seconds = time.perf_counter() - start
    del nb.cells[n_cells:]
    return nb, seconds, error, solution_results


class BookRun:
    """The book's notebooks executed at ``preset`` into a copy of the sources at ``root``, two kernels
    at a time, each notebook when first asked for (``result``) or all at once (``start_all``)."""

    def __init__(self, root: Path, preset: str, workers: int = 2, solutions=None):
        import nbformat

        self.root, self.preset = Path(root), preset
        self.digest = source_digest(preset)  # of the sources as they are when the run starts
        for name in BOOK_FILES:
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, self.root / name)
        shutil.copytree(ROOT / "chapters", self.root / "chapters", dirs_exist_ok=True)
        self.notebooks = [p.relative_to(ROOT) for p in toc_notebooks()]
        self._solutions = solutions or (lambda nb: [])
        self._nbformat = nbformat
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._futures = {}

    def _run(self, relative: Path):
        path = self.root / relative
        nb = self._nbformat.read(path, as_version=4)
        nb, seconds, error, solutions = execute(path, self.preset, self._solutions(nb))
        self._nbformat.write(nb, path)
        return seconds, error, solutions

    def start(self, relative: Path):
        relative = Path(relative)
        if relative not in self.notebooks:
            raise KeyError(f"{relative} is not a notebook in _toc.yml; notebooks: {[str(n) for n in self.notebooks]}")
        if relative not in self._futures:
            self._futures[relative] = self._pool.submit(self._run, relative)
        return self._futures[relative]

    def start_all(self):
        # later chapters train the most: start them first, so the two kernels finish close together
        for relative in sorted(self.notebooks, key=lambda p: (p.parent.name != "appendix", p.name), reverse=True):
            self.start(relative)

    def result(self, relative) -> tuple[float, object, list]:
        """(seconds, error or None, solution results) of one notebook, executing it if needed."""
        return self.start(relative).result()

    def notebook(self, relative):
        """The executed notebook (raises if it failed)."""
        seconds, error, _ = self.result(relative)
        if error is not None:
            raise RuntimeError(f"{relative} failed at the {self.preset} preset:\n{str(error)[-3000:]}")
        return self._nbformat.read(self.root / relative, as_version=4)

    def results(self) -> dict:
        self.start_all()
        return {relative: self.result(relative) for relative in self.notebooks}

    def keep(self, out: Path = ROOT / "_build" / "executed") -> Path | None:
        """Copy the executed sources to ``out/<preset>`` with their stamp, if every notebook ran."""
        results = self.results()
        if any(error is not None for _, error, _ in results.values()):
            return None
        dest = Path(out) / self.preset
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.root, tmp, ignore=shutil.ignore_patterns("_build"))
        stamp = {"format": _STAMP_FORMAT, "preset": self.preset, "sources": self.digest,
                 "seconds": {str(k): round(v[0], 1) for k, v in results.items()},
                 "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        (tmp / STAMP).write_text(json.dumps(stamp, indent=1), encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        return dest

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- glued values
def glued_bundles(nb) -> dict[str, dict]:
    """``{name: MIME bundle}`` of every ``llmcourse.glue(name, value)`` in an executed notebook (the
    bundle's keys without MyST-NB's hidden-glue prefix). A name glued twice is an error."""
    bundles = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get("scrapbook")
            if out.get("output_type") != "display_data" or not meta:
                continue
            prefix = meta.get("mime_prefix", "")
            name = meta["name"]
            if name in bundles:
                raise ValueError(f"{name!r} is glued twice; each name is glued once")
            bundles[name] = {k[len(prefix):]: v for k, v in out.get("data", {}).items() if k.startswith(prefix)}
    return bundles


def glue_values(nb) -> dict:
    """``{name: value}`` for every ``llmcourse.glue(name, value)`` in an executed notebook. A value
    whose ``text/plain`` form is a Python literal comes back as that literal (``0.25``, ``"abc"``,
    ``[1, 2]``); any other (a figure, a table) comes back as its MIME bundle (a dict of str)."""
    values = {}
    for name, bundle in glued_bundles(nb).items():
        try:
            values[name] = ast.literal_eval(bundle.get("text/plain", ""))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            values[name] = bundle
    return values


# --------------------------------------------------------------------------- make book
def kept(preset: str = "cpu", out: Path = ROOT / "_build" / "executed") -> Path | None:
    """The kept execution at ``preset`` if its stamp matches today's sources, else None."""
    dest = Path(out) / preset
    try:
        stamp = json.loads((dest / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("format") != _STAMP_FORMAT:
        return None
    return dest if stamp.get("sources") == source_digest(preset) else None


def build(preset: str = "cpu") -> int:
    """``make book``: render the kept execution when it is current, else execute while building."""
    jb = str(Path(sys.executable).parent / "jupyter-book")
    strict = ["-W", "-n", "--keep-going"]
    env = {**os.environ, "LLMCOURSE_PRESET": preset, "LLMCOURSE_QUIET": "1"}
    source = kept(preset)
    if source is None:
        print(f"no current execution at the {preset} preset in _build/executed: executing every notebook")
        return subprocess.call([jb, "build", str(ROOT), *strict], env=env)
    stamp = json.loads((source / STAMP).read_text(encoding="utf-8"))
    print(f"rendering the {preset} execution of {stamp['created']} (_build/executed/{preset}, sources unchanged since)")
    config = yaml.safe_load((source / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["execute_notebooks"] = "off"
    (source / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return subprocess.call([jb, "build", str(source), "--path-output", str(ROOT), *strict], env=env)


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        sys.exit(build())
    raise SystemExit("usage: python tools/executed_book.py build")
