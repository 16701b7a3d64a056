"""Every notebook in _toc.yml: anatomy checks, and a top-to-bottom run in the tiny preset."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT, toc_files, toc_notebooks

from llmcourse import notebook

NOTEBOOKS = toc_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
# chapters have the full anatomy (exercises, summary); appendix pages such as the performance page
# only share the setup cell, the empty outputs and the run in the tiny preset
CHAPTERS = [p for p in NOTEBOOKS if p.parent.name == "chapters"]


def test_toc_lists_existing_files():
    for entry in toc_files():
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), entry
    assert len(NOTEBOOKS) >= 2


def test_repository_url_lives_in_config(book_config):
    assert book_config["repository"]["url"] == notebook.REPOSITORY_URL
    # the launch buttons open the Colab edition's branch; the committed notebooks install from main
    assert book_config["repository"]["branch"] == notebook.COLAB_BRANCH == "colab"
    assert notebook.BRANCH == "main"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell(path, book_config):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code"
    url = book_config["repository"]["url"]
    assert first.source == notebook.setup_cell_source(url, notebook.BRANCH)
    assert f"git+{url}@main" in first.source
    assert "hide-input" in first.metadata.get("tags", []), "the setup cell is collapsed on the page (its output shows)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"


def test_every_chapter_has_the_anatomy_and_the_appendix_is_separate():
    assert len(CHAPTERS) >= 8 and all(p.name[:2].isdigit() for p in CHAPTERS)
    assert all(p.parent.name == "appendix" for p in NOTEBOOKS if p not in CHAPTERS)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_anatomy(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[1].cell_type == "markdown" and nb.cells[1].source.startswith("# ")
    assert "What you will learn" in text
    assert text.count("{exercise}") >= 3, "at least 3 exercises"
    assert text.count("{solution}") >= text.count("{exercise}"), "every exercise has a solution"
    assert "solution-start" not in text, "gated solutions crash sphinx-exercise 1.2.1 with hide_solutions"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "llmcourse.exercises" in code, "at least one auto-checked exercise"
    assert "## Summary" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_citations_are_in_the_bibliography(path):
    """Every citation is in references.bib (the strict build checks it too, and that every
    {glue:text} name is glued; this test names the notebook without building the book)."""
    import re

    nb = nbformat.read(path, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    keys = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "references.bib").read_text(encoding="utf-8")))
    cited = {k.strip() for group in re.findall(r"\{cite[:a-z]*\}`([^`]+)`", prose) for k in group.split(",")}
    assert cited, "a chapter cites its sources"
    assert cited <= keys, f"citations missing from references.bib: {sorted(cited - keys)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_book_machinery_is_out_of_sight(path):
    """Glue calls in hidden cells (remove-cell) holding nothing but glue calls, right after the cell that
    computes their values; no glue call or glue name in the reader's code; figures with alt texts in
    words and no text under 8 pt; no hash, test file, "(s)", scientific notation, target wording or
    typed exercise number in the prose (tests/machinery.py)."""
    from machinery import assert_machinery_out_of_sight

    assert_machinery_out_of_sight(nbformat.read(path, as_version=4))


def test_kernel_is_this_environment_even_with_a_user_kernelspec(tmp_path):
    """A user's own `python3` kernelspec must not win over this environment's."""
    bad = tmp_path / "kernels" / "python3"
    bad.mkdir(parents=True)
    (bad / "kernel.json").write_text('{"argv": ["/bin/false", "{connection_file}"], "display_name": "bad", "language": "python"}')
    code = "from jupyter_client.kernelspec import KernelSpecManager; print(KernelSpecManager().get_kernel_spec('python3').resource_dir)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "JUPYTER_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(sys.prefix), out.stdout


def test_book_build_executes_every_notebook(book_config):
    """`make book` runs every notebook on every build, stops on the first error, bounds each cell."""
    execute = book_config["execute"]
    assert execute["execute_notebooks"] == "force"
    assert execute["allow_errors"] is False and execute["raise_on_error"] is True
    assert 0 < execute["timeout"] <= 900


def _check_outputs(nb, relative):
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{relative} cell {i}: {out.get('ename')}: {out.get('evalue')}"
            if out.output_type == "stream" and out.name == "stderr":
                assert "Traceback" not in out.text, f"{relative} cell {i} printed a traceback"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_at_cpu(path, executed_book):
    """The book's own execution (cpu preset): top to bottom without an error; its glued values are
    what the claims tests assert and what the book build renders."""
    relative = path.relative_to(ROOT)
    seconds, error, _ = executed_book.result(relative)
    assert error is None, f"{relative} failed:\n{str(error)[-3000:]}"
    nb = nbformat.read(executed_book.root / relative, as_version=4)
    _check_outputs(nb, relative)
    assert "preset: cpu" in nb.cells[0].outputs[0].text
    print(f"{relative}: {seconds:.1f} s at the cpu preset (two notebooks at a time)")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_tiny_preset(path, tiny_runs):
    """The tiny preset (quick iteration, Colab smoke runs) runs every code path too."""
    relative = path.relative_to(ROOT)
    seconds, error, _ = tiny_runs[relative]
    assert error is None, f"{relative} failed in the tiny preset:\n{str(error)[-3000:]}"
    print(f"{relative}: {seconds:.1f} s in the tiny preset (two notebooks at a time)")


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_solutions_run_and_pass_their_checkers(path, tiny_runs):
    """Every ```python block in a solution runs after the notebook (tiny preset, same kernel); a
    checker it calls says passed."""
    _, error, solutions = tiny_runs[path.relative_to(ROOT)]
    assert error is None, "the notebook itself failed; see test_notebook_runs_in_tiny_preset"
    assert solutions, "no solution shows code"
    for label, err, outputs in solutions:
        assert err is None, f"solution {label} raised:\n{str(err)[-2000:]}"
        shown = " ".join(str(o.get("data", {}).get("text/markdown", "")) + str(o.get("text", "")) for o in outputs)
        assert "not yet" not in shown, f"solution {label} does not pass its checker: {shown[:500]}"
