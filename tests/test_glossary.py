"""The glossary (chapters/appendix/glossary.md): one row per term, grouped by the chapter that
defines it, each term a link to a label in that chapter, and Korean spelled as the chapters spell it.

A term links with ``{ref}`term <label>```; the label is a MyST target line ``(label)=`` in a
chapter's Markdown (or an exercise's ``:label:``). The checks read the sources, not a build."""

from __future__ import annotations

import re
import unicodedata

import nbformat
import pytest
from conftest import ROOT, toc_files

GLOSSARY = ROOT / "chapters" / "appendix" / "glossary.md"
REF = re.compile(r"\{ref\}`([^`<]+?)\s*<([^>`]+)>`")
TARGET = re.compile(r"^\(([A-Za-z0-9_-]+)\)=[ \t]*$|^:label:[ \t]*(\S+)[ \t]*$", re.M)
HANGUL_RUN = re.compile(r"[가-힣]+(?: [가-힣]+)*")

# the terms issue 13 found missing; each must keep its row
REQUIRED = ["sigmoid", "softmax", "logit", "learning rate", "batch", "Adam", "cross-validation",
            "bag of words", "Markov assumption", "Kneser–Ney", "UTF-8", "distributional hypothesis",
            "residual connection", "layer norm", "GELU", "dropout", "decoder-only", "scoreboard", "bias"]


def _sources() -> dict[str, str]:
    """The Markdown of every page of the book, by its _toc.yml entry (a notebook's Markdown cells
    joined, code cells left out: a term is defined in the prose)."""
    out = {}
    for entry in toc_files():
        nb_path, md_path = ROOT / f"{entry}.ipynb", ROOT / f"{entry}.md"
        if nb_path.exists():
            nb = nbformat.read(nb_path, as_version=4)
            out[entry] = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        elif md_path.exists():
            out[entry] = md_path.read_text(encoding="utf-8")
    return out


SOURCES = _sources()


def _rows() -> list[dict]:
    """Every table row of the glossary: its group (the ``##`` heading above it), its cells and the
    ``{ref}`` links of its English cell and of the whole row."""
    rows, group = [], None
    for number, line in enumerate(GLOSSARY.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("## "):
            group = line[3:].strip()
        if not line.startswith("|") or set(line) <= set("|-: ") or line.startswith("| English"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, f"glossary line {number}: expected 3 cells, got {cells}"
        rows.append({"line": number, "group": group, "english": cells[0], "korean": cells[1],
                     "meaning": cells[2], "term_links": REF.findall(cells[0]), "links": REF.findall(line)})
    return rows


ROWS = _rows()


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower().replace("–", "-").replace("‐", "-")
    return re.sub(r"\s+", " ", text.replace("*", ""))


def _alternatives(term: str) -> list[str]:
    """The words a row stands for: its English term without parentheses, split at " / " and ", "."""
    bare = re.sub(r"\s*\([^)]*\)", "", term)
    return [_norm(a).strip() for a in re.split(r" / |, ", bare) if a.strip()]


def _defined_in(label: str) -> list[str]:
    return [entry for entry, text in SOURCES.items()
            if any(label in (m.group(1), m.group(2)) for m in TARGET.finditer(text))]


def test_the_glossary_has_rows_in_groups():
    assert ROWS and all(r["group"] for r in ROWS)


def test_no_term_is_listed_twice():
    seen = {}
    for row in ROWS:
        for alt in _alternatives(row["term_links"][0][0] if row["term_links"] else row["english"]):
            assert alt not in seen, f"{alt!r} on glossary lines {seen[alt]} and {row['line']}"
            seen[alt] = row["line"]


def test_every_term_links_to_a_label_defined_once():
    problems = []
    for row in ROWS:
        if len(row["term_links"]) != 1:
            problems.append(f"line {row['line']}: the English cell must be one {{ref}} link")
        for _, label in row["links"]:
            where = _defined_in(label)
            if len(where) != 1:
                problems.append(f"line {row['line']}: label {label!r} is defined in {where or 'no page'}")
    assert not problems, "\n".join(problems)


def test_each_term_appears_in_the_chapter_it_links_to():
    problems = []
    for row in ROWS:
        term = row["term_links"][0][0]
        for _, label in row["links"]:
            for entry in _defined_in(label):
                text = _norm(SOURCES[entry])
                missing = [alt for alt in _alternatives(term) if alt not in text]
                if missing:
                    problems.append(f"line {row['line']}: {missing} not found in {entry}, where {label!r} is")
    assert not problems, "\n".join(problems)


def test_rows_sit_under_the_chapter_that_defines_them():
    problems = []
    for row in ROWS:
        chapter = re.match(r"Chapter (\d+):", row["group"])
        for entry in _defined_in(row["term_links"][0][1]):
            if chapter and not entry.startswith(f"chapters/{int(chapter.group(1)):02d}_"):
                problems.append(f"line {row['line']}: under {row['group']!r} but defined in {entry}")
            if not chapter and re.match(r"chapters/\d\d_", entry):
                problems.append(f"line {row['line']}: defined in the chapter {entry}, not under its heading")
    assert not problems, "\n".join(problems)


def test_korean_is_spelled_as_in_the_chapters():
    """A Korean term of the glossary never appears in a chapter with other spacing
    (사전 학습 here, 사전학습 there)."""
    chapters = {e: t for e, t in SOURCES.items() if e.startswith("chapters/") and "appendix" not in e}
    problems = []
    for row in ROWS:
        for term in HANGUL_RUN.findall(row["korean"]):
            pattern = re.compile(r"\s*".join(re.escape(ch) for ch in term.replace(" ", "")))
            for entry, text in chapters.items():
                variants = {m.group(0) for m in pattern.finditer(text)} - {term}
                if variants:
                    problems.append(f"glossary line {row['line']} spells {term!r}, {entry} writes {variants}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("term", REQUIRED)
def test_required_term_has_a_row(term):
    assert any(_norm(term) in _alternatives(r["term_links"][0][0]) for r in ROWS if r["term_links"]), term


def test_spacing_check_can_fail():
    """The Korean check above finds a spacing variant when there is one."""
    pattern = re.compile(r"\s*".join(re.escape(ch) for ch in "사전학습"))
    assert {m.group(0) for m in pattern.finditer("모델을 사전 학습한다")} == {"사전 학습"}
