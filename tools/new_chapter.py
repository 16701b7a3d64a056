"""Create a new chapter notebook with the course's anatomy: ``python tools/new_chapter.py 09_name "Title"``.

It writes ``chapters/<name>.ipynb`` (refusing to overwrite one that exists) with the setup cell,
the title and "What you will learn", an exercise and a solution in sphinx-exercise syntax, and the
summary. Add the file to ``_toc.yml`` afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from llmcourse.notebook import setup_cell_source

ROOT = Path(__file__).resolve().parents[1]


def new_chapter(name: str, title: str) -> Path:
    path = ROOT / "chapters" / f"{name}.ipynb"
    if path.exists():
        raise SystemExit(f"{path} exists already; choose another name")
    label = name.split("_")[0]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(setup_cell_source(), metadata={"tags": ["hide-input"]}),
        nbformat.v4.new_markdown_cell(
            f"# {title}\n\n**What you will learn**\n\n- ...\n\n"
        ),
        nbformat.v4.new_markdown_cell(
            f"## Exercises\n\n```{{exercise}} First exercise\n:label: ex{label}-first\n\n...\n```\n\n"
            f"````{{solution}} ex{label}-first\n:class: dropdown\n\n...\n````"
        ),
        nbformat.v4.new_markdown_cell("## Summary\n\n- ...\n\n## Further reading\n\n- ..."),
    ]
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(new_chapter(sys.argv[1], sys.argv[2]))
