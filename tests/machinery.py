"""The book's machinery stays out of the reader's sight: one check that tests/test_notebooks.py runs on
every notebook of the book.

* Glue calls live in hidden code cells (tagged ``remove-cell``) right after the visible code cell that
  computes their values, and such a cell holds nothing but ``llmcourse.glue(...)`` calls (the Colab
  edition drops it, so nothing later may need it).
* The code the reader sees calls no ``glue`` and spells no glue name as a string (no internal key
  printed as a result, such as ``rules_acc_decided 73.9%``).
* Every figure has an alt text in words, not a file path; no text in a figure is smaller than 8 pt.
* The prose names no hash or test file, writes no "(s)" plural, formats no glued number in scientific
  notation, speaks of no "target / meets / misses", and refers to exercises by label, never by number.
"""

from __future__ import annotations

import ast
import re

FIGURE = re.compile(r"plt\.(subplots|figure|show)\(")
SCIENTIFIC = re.compile(r"\{glue:text\}`\w+:[^`]*[eE]`")  # a glued number formatted as 8.4e+09
# checked on the prose without its code (`len(s)` is code, "character(s)" is prose)
PROSE_FORBIDDEN = re.compile(
    r"SHA-?256|tests/|test_\w+\.py|\w\(s\)|Exercise \d|Exercise \{ref\}"
    r"|\b(first|second|third|fourth|fifth|last|previous|next) exercise\b"
    r"|\b(meets|misses|met|missed)\b[^.\n]{0,30}\btarget\b|\btarget\b[^.\n]{0,30}\b(meets|misses|met|missed)\b",
    re.IGNORECASE,
)


def _without_code(prose: str) -> str:
    prose = re.sub(r"^```python\n.*?^```", "", prose, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", prose)


def _is_glue_call(statement: ast.stmt) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
            and ast.unparse(statement.value.func) == "llmcourse.glue")


def _strings(tree: ast.AST) -> set[str]:
    """The string constants of ``tree``, except keys read by subscript (``history.train["learning_rate"]``
    reads a metric, it shows no glue name)."""
    keys = {id(node.slice) for node in ast.walk(tree) if isinstance(node, ast.Subscript)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in keys}


def assert_machinery_out_of_sight(nb) -> None:
    hidden = [i for i, c in enumerate(nb.cells) if "remove-cell" in c.metadata.get("tags", [])]
    assert hidden, "glue calls belong in hidden cells"
    names = set()
    for i in hidden:
        cell, before = nb.cells[i], nb.cells[i - 1]
        assert cell.cell_type == "code", f"cell {i}: a hidden cell holds code"
        assert before.cell_type == "code" and i - 1 not in hidden, f"cell {i}: not right after the visible cell"
        for statement in ast.parse(cell.source).body:
            assert _is_glue_call(statement), f"cell {i} holds more than glue calls: {ast.unparse(statement)}"
            first = statement.value.args[0]
            assert isinstance(first, ast.Constant), f"cell {i}: glue names are literal strings"
            names.add(first.value)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or i in hidden:
            continue
        assert "glue(" not in cell.source, f"cell {i} shows a glue call:\n{cell.source[:300]}"
        shown = sorted(names & _strings(ast.parse(cell.source.replace("%pip", "#pip"))))
        assert not shown, f"cell {i} spells glue names the reader would see: {shown}"
        sizes = [float(x) for x in re.findall(r"(?:fontsize|labelsize)=(\d+(?:\.\d+)?)", cell.source)]
        assert all(size >= 8 for size in sizes), f"cell {i}: text under 8 pt {sizes}"
        if FIGURE.search(cell.source):
            alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt.split()) >= 8 and "/" not in alt, f"cell {i}: alt text {alt!r}"
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    found = [m.group(0) for m in SCIENTIFIC.finditer(prose)]
    found += [m.group(0) for m in PROSE_FORBIDDEN.finditer(_without_code(prose))]
    assert not found, f"the prose shows machinery or typed exercise numbers: {found}"
