"""The Colab edition (tools/colab_edition.py, ``make colab``) and its setup cell.

* A small fake executed book converted into the Colab and student-Colab editions: each MyST form
  and what it becomes, and no MyST left.
* Every real notebook's Markdown converted (with stand-in glued values): no MyST left, exercises
  numbered per chapter — so a new kind of MyST in a chapter fails here, not in front of a reader.
* The Colab setup cell run with a fake pip and fake installed versions: it keeps a compatible JAX
  (pinned on pip's command line) and says to restart when JAX had to change.
* One real Colab notebook (chapter 1, its glued values from the test session's cpu execution) run
  top to bottom at ``tiny`` outside the repository, in a fresh virtual environment where llmcourse is
  installed from a wheel by pip (not editable); its setup cell must find it and call no pip.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, toc_notebooks

import colab_edition
from llmcourse import notebook

MYST = ["{glue", "{exercise", "{solution", "{cite", "{ref", "{numref", "{doc", "{term", "```{", ":::{", ")=",
        ":label:", ":class:"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def myst_left(nb) -> list[str]:
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return [s for s in MYST if s in text]


def glue_output(name: str, value):
    """The output ``llmcourse.glue(name, value)`` leaves in an executed notebook (MyST-NB's format)."""
    from IPython.core.formatters import format_display_data
    from myst_nb.ext.glue import GLUE_PREFIX

    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    return nbformat.v4.new_output("display_data", data={GLUE_PREFIX + k: v for k, v in bundle.items()},
                                  metadata=metadata)


# --------------------------------------------------------------------------- a fake executed book
BIB = r"""
@article{smith2013beta,
  title   = {Beta Results},
  author  = {Smith, Ann and Jones, Bo and Lee, Cy},
  year    = {2013}
}
@inproceedings{smith2013alpha,
  title     = {{Alpha} Results},
  author    = {Smith, Ann and others},
  year      = {2013}
}
@book{schutze1999,
  title     = "Foundations",
  author    = {Manning, Christopher D. and Sch{\"u}tze, Hinrich},
  year      = 1999
}
@article{doe2020,
  title   = {One Author},
  author  = {Doe, Jane},
  year    = {2020}
}
@article{cernocky2010,
  title   = {Accents},
  author  = {{\v{C}}ernock{\'y}, Jan},
  year    = {2010}
}
"""

INTRO = """# A fake chapter

The text has {glue:text}`n_chars:,d` characters and {glue:text}`rate:.1%` of them are spaces. More
follows.

See {ref}`ex08-counts` and {ref}`sec-results`; the solution to {ref}`the first exercise <ex08-counts>`
is collapsed.
"""

RESULTS = """(sec-results)=
## Results *at last*

The best word is *{glue:text}`word`*, seen {glue:text}`count:d` times: a fact
{cite}`smith2013beta,smith2013alpha`. {cite:t}`schutze1999` agree, and so does {cite:p}`doe2020`;
{cite:t}`cernocky2010` does not. Inline math $x^2$ stays, role math {math}`a^2`.

$$
H(p, q) = H(p) + \\mathrm{KL}(p \\,\\|\\, q)
$$

| model | score |
|---|---|
| ours | {glue:text}`rate:.2f` |

- a list item with {glue:text}`count:d` in it;
- another item.

```{note}
A note with {glue:text}`word`.
```

:::{tip}
A tip in a colon fence.
:::

```{admonition} Why it matters
:class: dropdown
It matters, see {cite:t}`doe2020`.
```

```{math}
:label: eq-one
a = b
```
"""

EXERCISES = """## Exercises

```{exercise} Count the pairs
:label: ex08-counts

How many pairs are there in {glue:text}`n_chars:,d` characters?
```

````{solution} ex08-counts
:class: dropdown

One fewer than the characters:

```python
print(n_chars - 1)
```
````

```{exercise}
:label: ex08-untitled

An exercise without a title.
```
"""

SOLUTION_2 = """```{solution} ex08-untitled
:class: dropdown

Its solution, citing {cite}`doe2020`.
```

## Summary

Done.
"""


def fake_executed_book(root: Path) -> Path:
    """A book of one executed chapter, ``chapters/08_fake.ipynb``, and references.bib under ``root``."""
    (root / "chapters").mkdir(parents=True)
    (root / "references.bib").write_text(BIB, encoding="utf-8")
    setup = nbformat.v4.new_code_cell(notebook.setup_cell_source(), execution_count=1,
                                      outputs=[nbformat.v4.new_output("stream", text="llmcourse 0.1.0 | preset: cpu\n")])
    work = nbformat.v4.new_code_cell("n_chars = 2011726\nprint(n_chars)", execution_count=2,
                                     outputs=[nbformat.v4.new_output("stream", text="2011726\n")])
    work.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    hidden = nbformat.v4.new_code_cell('llmcourse.glue("n_chars", n_chars)\n# ...', execution_count=3,
                                       outputs=[glue_output("n_chars", 2011726), glue_output("rate", 0.12345),
                                                glue_output("word", "Seoul"), glue_output("count", 42)])
    hidden.metadata["tags"] = ["remove-cell"]
    stub = nbformat.v4.new_code_cell("# your code here\nanswer = None", execution_count=4)
    nb = nbformat.v4.new_notebook(cells=[
        setup, nbformat.v4.new_markdown_cell(INTRO), work, hidden, nbformat.v4.new_markdown_cell(RESULTS),
        nbformat.v4.new_markdown_cell(EXERCISES), stub, nbformat.v4.new_markdown_cell(SOLUTION_2)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "chapters" / "08_fake.ipynb")
    (root / "stamp.json").write_text(json.dumps({"created": "2026-01-02 03:04:05"}), encoding="utf-8")
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\nparts:\n  - chapters:\n      - file: chapters/08_fake\n")
    return root


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    root = fake_executed_book(tmp_path_factory.mktemp("executed"))
    out = tmp_path_factory.mktemp("out")
    made = {}
    for name, student in (("colab", False), ("colab-student", True)):
        written = colab_edition.write_edition(root, out / name, student=student, ref=COMMIT,
                                              notebooks=[Path("chapters/08_fake.ipynb")])
        assert written == [out / name / "chapters" / "08_fake.ipynb"]
        made[name] = nbformat.read(written[0], as_version=4)
    return made


def _markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_no_myst_left(editions):
    for nb in editions.values():
        assert myst_left(nb) == []
        nbformat.validate(nb)


def test_code_cells_unchanged_without_outputs_and_remove_cell_dropped(editions):
    nb = editions["colab"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.source for c in code[1:]] == ["n_chars = 2011726\nprint(n_chars)", "# your code here\nanswer = None"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "execution" not in code[1].metadata
    assert not any("glue(" in c.source for c in code), "the remove-cell cell with the glue calls is dropped"


def test_setup_cell_is_the_colab_one(editions):
    for nb in editions.values():
        first = nb.cells[0]
        assert first.source == notebook.colab_setup_cell_source(COMMIT, colab_edition.jax_requirement())
        assert first.metadata["cellView"] == "form" and first.source.startswith("# @title")
        assert f"git+{notebook.REPOSITORY_URL}@{COMMIT}" in first.source


def test_glued_values_are_written_in_and_marked(editions):
    text = _markdown(editions["colab"])
    # formatted as the book formats them; the first value of a paragraph marks its sentence
    assert ("The text has 2,011,726 characters and 12.3% of them are spaces "
            "*(measured when the book was built)*. More") in text
    assert ("The best word is *Seoul*, seen 42 times: a fact\n(Smith et al., 2013b, 2013a) "
            "*(measured when the book was built)*. Manning") in text
    assert "- a list item with 42 in it *(measured when the book was built)*;\n- another item." in text
    # a table gets a line under it; the note under the title says what the mark means, and when
    assert "| ours | 0.12 |\n\n*(Values measured when the book was built.)*" in text
    note = editions["colab"].cells[2]
    assert note.cell_type == "markdown" and "Colab edition" in note.source and "2026-01-02" in note.source
    assert "*(measured when the book was built)*" in note.source
    assert text.count("*(measured when the book was built)*") == 6  # note, 2 paragraphs, list, note block, exercise


def test_exercises_become_numbered_headings_and_solutions_details(editions):
    text = _markdown(editions["colab"])
    assert "### Exercise 8.1: Count the pairs\n\nHow many pairs are there in 2,011,726 characters" in text
    assert "### Exercise 8.2\n\nAn exercise without a title." in text
    assert ("<details>\n<summary>Solution to Exercise 8.1</summary>\n\nOne fewer than the characters:\n\n"
            "```python\nprint(n_chars - 1)\n```\n\n</details>") in text
    assert "<summary>Solution to Exercise 8.2</summary>\n\nIts solution, citing (Doe, 2020)." in text


def test_student_edition_has_no_solutions(editions):
    text = _markdown(editions["colab-student"])
    assert "### Exercise 8.1: Count the pairs" in text and "### Exercise 8.2" in text
    assert "<details>" not in text and "One fewer" not in text and "Its solution" not in text
    assert "student edition" in editions["colab-student"].cells[2].source
    assert "## Summary" in text


def test_citations_refs_admonitions_and_math(editions):
    text = _markdown(editions["colab"])
    assert "Manning and Schütze (1999) agree, and so does (Doe, 2020);\nČernocký (2010) does not." in text
    # refs: the exercise's number, the section's title, an explicit text
    assert "See Exercise 8.1 and Results at last; the solution to the first exercise\nis collapsed." in text
    assert "(sec-results)" not in text and "## Results *at last*" in text
    assert "> **Note**\n>\n> A note with Seoul" in text
    assert "> **Tip**\n>\n> A tip in a colon fence." in text
    assert "> **Why it matters**\n>\n> It matters, see Doe (2020)." in text
    assert "$$\nH(p, q) = H(p) + \\mathrm{KL}(p \\,\\|\\, q)\n$$" in text
    assert "role math $a^2$" in text and "$$\na = b\n$$" in text


def test_bibliography_parsing_and_year_letters():
    refs = colab_edition.read_bibliography(BIB)
    # same authors, same year: letters in the order of the titles
    assert refs["smith2013alpha"] == colab_edition.Reference("Smith et al.", "2013a")
    assert refs["smith2013beta"] == colab_edition.Reference("Smith et al.", "2013b")
    assert refs["schutze1999"] == colab_edition.Reference("Manning and Schütze", "1999")
    assert colab_edition.cite(["doe2020", "schutze1999"], refs, textual=False) == "(Doe, 2020; Manning and Schütze, 1999)"
    with pytest.raises(colab_edition.MystError, match="nokey"):
        colab_edition.cite(["nokey"], refs, textual=True)


def test_the_books_bibliography_disambiguates_its_two_mikolov_2013_papers():
    refs = colab_edition.read_bibliography((ROOT / "references.bib").read_text(encoding="utf-8"))
    mikolov = sorted(r.year for r in refs.values() if r.authors == "Mikolov et al." and r.year.startswith("2013"))
    assert mikolov == ["2013a", "2013b"]
    assert all(not re.search(r"[{}\\]", r.authors) for r in refs.values())


def _convert(markdown: str, glued=None):
    ctx = colab_edition.Context(glued=glued or {}, refs={})
    return colab_edition.convert_markdown(markdown, ctx)


@pytest.mark.parametrize("markdown, message", [
    ("```{figure} x.png\n```", "directive {figure}"),
    ("a {sub}`2` b", "role {sub}"),
    ("a {glue:text}`missing` b", "nothing is glued as 'missing'"),
    ("see {ref}`nowhere`", "no exercise or section is labelled 'nowhere'"),
    ("```{note}\nnever closed", "unclosed fence"),
])
def test_unknown_myst_is_an_error_not_a_leak(markdown, message):
    with pytest.raises(colab_edition.MystError, match=re.escape(message)):
        _convert(markdown)


def test_refuses_to_write_into_the_source_tree(tmp_path):
    with pytest.raises(SystemExit, match="source tree"):
        colab_edition.write_edition(tmp_path, ROOT / "chapters" / "colab", ref=COMMIT, notebooks=[])


@pytest.mark.parametrize("kept", [True, False], ids=["kept-execution", "executes-first"])
def test_make_colab_writes_both_editions(tmp_path, monkeypatch, capsys, kept):
    """``make colab``'s entry point: the kept cpu execution when current, else one BookRun at cpu, kept."""
    book = fake_executed_book(tmp_path / "executed")
    ran = []

    class FakeRun:
        def __init__(self, root, preset):
            ran.append(preset)

        def keep(self):
            return book

        def close(self):
            pass

    monkeypatch.setattr(colab_edition.executed_book, "kept", lambda preset: book if kept else None)
    monkeypatch.setattr(colab_edition.executed_book, "BookRun", FakeRun)
    monkeypatch.setattr(colab_edition, "tested_ref", lambda: COMMIT)
    assert colab_edition.main(["--out", str(tmp_path / "colab"), "--student-out", str(tmp_path / "student")]) == 0
    assert ran == ([] if kept else ["cpu"])
    out = capsys.readouterr().out
    assert ("executing every notebook" in out) != kept
    colab = nbformat.read(tmp_path / "colab" / "chapters" / "08_fake.ipynb", as_version=4)
    student = nbformat.read(tmp_path / "student" / "chapters" / "08_fake.ipynb", as_version=4)
    assert "<details>" in _markdown(colab) and "<details>" not in _markdown(student)
    assert COMMIT in (tmp_path / "colab" / "README.md").read_text() and COMMIT in colab.cells[0].source


# --------------------------------------------------------------------------- every real notebook
@pytest.mark.parametrize("path", toc_notebooks(), ids=[p.stem for p in toc_notebooks()])
def test_every_notebook_converts_without_myst(path):
    """Each notebook of the book, with a stand-in value for every name its prose shows."""
    nb = nbformat.read(path, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    names = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", prose))
    nb.cells.append(nbformat.v4.new_code_cell("", outputs=[glue_output(n, 1) for n in sorted(names)]))
    refs = colab_edition.read_bibliography((ROOT / "references.bib").read_text(encoding="utf-8"))
    relative = path.relative_to(ROOT)
    colab = colab_edition.colab_notebook(nb, relative, refs, notebook.colab_setup_cell_source(COMMIT, ">=0.5"),
                                         docs=colab_edition.page_titles())
    assert myst_left(colab) == [], f"{relative}: MyST left in the Colab edition"
    n_exercises = prose.count("{exercise}")
    chapter = colab_edition.chapter_number(relative)
    headings = re.findall(r"^### Exercise (\S+?)(?::|$)", _markdown(colab), re.M)
    assert headings == [f"{chapter}.{k}" for k in range(1, n_exercises + 1)]
    assert _markdown(colab).count("<details>") == prose.count("{solution}")
    assert colab.cells[0].source.startswith("# @title Setup")


# --------------------------------------------------------------------------- the setup cell
@pytest.fixture
def setup_cell(monkeypatch, capsys):
    """Run the Colab setup cell as if llmcourse were not installed, with ``versions`` as the installed
    distributions and a fake pip; returns (pip command lines, printed text)."""
    import llmcourse

    def run(versions: dict, pip_returncodes=(0,)):
        versions, calls, codes = dict(versions), [], iter(pip_returncodes)

        def fake_version(name):
            if name in versions:
                return versions[name]
            raise importlib.metadata.PackageNotFoundError(name)

        def fake_run(cmd, **kwargs):
            calls.append(list(cmd))
            code = next(codes)
            if code == 0:
                sys.modules["llmcourse"] = llmcourse  # installed
                if not any(arg.startswith("jax==") for arg in cmd):
                    versions["jax"] = versions["jaxlib"] = "9.9.9"  # unpinned, pip takes the newest JAX
            return subprocess.CompletedProcess(cmd, code, "", "" if code == 0 else "ResolutionImpossible")

        monkeypatch.setattr(importlib.metadata, "version", fake_version)
        monkeypatch.setattr(subprocess, "run", fake_run)
        monkeypatch.setitem(sys.modules, "llmcourse", None)  # `import llmcourse` raises ImportError
        source = notebook.colab_setup_cell_source(COMMIT, ">=0.5,<1")
        namespace = {}
        exec(compile(source, "<Colab setup cell>", "exec"), namespace)
        assert namespace["cfg"].name == "tiny"
        return calls, capsys.readouterr().out

    return run


def _jax_args(cmd):
    return [a for a in cmd if a.startswith(("jax", "jaxlib"))]


def test_setup_cell_keeps_a_compatible_jax(setup_cell):
    calls, out = setup_cell({"jax": "0.6.2", "jaxlib": "0.6.1"})
    assert len(calls) == 1
    cmd = calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    assert f"llmcourse @ git+{notebook.REPOSITORY_URL}@{COMMIT}" in cmd
    assert _jax_args(cmd) == ["jax==0.6.2", "jaxlib==0.6.1"], "the runtime's JAX is pinned, no other JAX asked for"
    assert "Restart" not in out


def test_setup_cell_with_a_jax_out_of_range_upgrades_and_says_to_restart(setup_cell):
    calls, out = setup_cell({"jax": "0.4.30", "jaxlib": "0.4.30"})
    assert len(calls) == 1 and _jax_args(calls[0]) == []
    assert "JAX 0.4.30 was replaced by JAX 9.9.9" in out and "Restart the runtime" in out


def test_setup_cell_without_jax_installs_one_without_restart(setup_cell):
    calls, out = setup_cell({})
    assert len(calls) == 1 and _jax_args(calls[0]) == []
    assert "Restart" not in out


def test_setup_cell_when_pip_cannot_keep_the_jax(setup_cell):
    calls, out = setup_cell({"jax": "0.6.2", "jaxlib": "0.6.2"}, pip_returncodes=(1, 0))
    assert [_jax_args(c) for c in calls] == [["jax==0.6.2", "jaxlib==0.6.2"], []]
    assert "cannot be installed beside JAX 0.6.2" in out and "Restart the runtime" in out


def test_setup_cell_reports_a_failed_install(setup_cell):
    with pytest.raises(RuntimeError, match="ResolutionImpossible"):
        setup_cell({}, pip_returncodes=(1,))


def test_setup_cell_installs_nothing_where_llmcourse_is_importable(monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip was called"))
    namespace = {}
    exec(compile(notebook.colab_setup_cell_source(COMMIT, ">=0.5"), "<Colab setup cell>", "exec"), namespace)
    assert namespace["cfg"].name == "tiny"


def test_setup_cell_range_comes_from_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    jax = [d for d in deps if re.match(r"jax\b(?!lib)", d)]
    assert len(jax) == 1
    assert colab_edition.jax_requirement() == jax[0].removeprefix("jax").strip()
    assert f'SpecifierSet("{colab_edition.jax_requirement()}")' in notebook.colab_setup_cell_source(COMMIT, colab_edition.jax_requirement())


@pytest.mark.parametrize("ref, requirement, message", [
    ("", ">=0.5", "commit"), ("main branch", ">=0.5", "commit"), ('x"y', ">=0.5", "commit"),
    (COMMIT, "0.5", "version range"),
])
def test_setup_cell_bad_input(ref, requirement, message):
    with pytest.raises(ValueError, match=message):
        notebook.colab_setup_cell_source(ref, requirement)


def test_tested_ref_is_this_commit():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        assert colab_edition.tested_ref() == f"v{importlib.metadata.version('llmcourse')}"
    else:
        assert colab_edition.tested_ref() == head.stdout.strip()


# --------------------------------------------------------------------------- one real notebook, installed by pip
def _pip_installed_venv(tmp: Path) -> Path:
    """A fresh virtual environment with llmcourse installed from a wheel of this repository (not
    editable); its dependencies come from this environment's site-packages through a .pth file, so
    nothing is downloaded."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "llmcourse", src / "llmcourse", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp / "wheels"), str(src)], check=True, timeout=600)
    wheel, = (tmp / "wheels").glob("llmcourse-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "_course_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    # --ignore-installed: install into the new environment, never touching this one's llmcourse
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                    str(wheel)], check=True, timeout=600, cwd=tmp)
    return venv


@pytest.mark.slow
def test_colab_notebook_runs_outside_the_repository_installed_by_pip(executed_book, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    relative = Path("chapters/01_what_is_an_llm.ipynb")
    executed_book.notebook(relative)  # the cpu execution, whose glued values the prose shows
    out = colab_edition.write_edition(executed_book.root, tmp_path / "colab", notebooks=[relative])[0]
    nb = nbformat.read(out, as_version=4)
    assert myst_left(nb) == []
    assert nb.cells[0].source == notebook.colab_setup_cell_source(colab_edition.tested_ref(), colab_edition.jax_requirement())

    venv = _pip_installed_venv(tmp_path)
    # a kernel of that environment, and a `pip` that leaves a mark if the setup cell calls it
    kernels = tmp_path / "jupyter" / "kernels" / "colab-venv"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab test", "language": "python"}), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(tmp_path / "jupyter"), os.environ.get("JUPYTER_PATH", "")]))
    marker = tmp_path / "pip-was-called"
    shim = tmp_path / "shim" / "pip"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("")
    (shim / "__main__.py").write_text(f"import pathlib, sys\npathlib.Path({str(marker)!r}).write_text(' '.join(sys.argv))\n"
                                      "sys.exit(1)\n")
    run_dir = tmp_path / "run"  # outside the repository: nothing of it on the path
    run_dir.mkdir()
    env = {**os.environ, "LLMCOURSE_PRESET": "tiny", "LLMCOURSE_QUIET": "1",
           "PYTHONPATH": os.pathsep.join([str(shim.parent), os.environ.get("PYTHONPATH", "")])}
    env.pop("MPLBACKEND", None)
    probe = nbformat.v4.new_code_cell("import importlib.metadata, llmcourse\n"
                                      "print(llmcourse.__file__, importlib.metadata.version('llmcourse'))")
    nb.cells.append(probe)
    client = NotebookClient(nb, timeout=600, kernel_name="colab-venv", allow_errors=False,
                            resources={"metadata": {"path": str(run_dir)}})
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)

    def printed(cell):
        return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")

    assert not marker.exists(), f"the setup cell called pip: {marker.read_text()}"
    assert "preset: tiny" in printed(nb.cells[0])
    where, version = printed(probe).split()
    assert Path(where).is_relative_to(venv), f"llmcourse imported from {where}, not from the pip-installed wheel"
    assert version == importlib.metadata.version("llmcourse")
