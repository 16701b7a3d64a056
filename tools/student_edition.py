"""Write the student edition of the chapter notebooks: every ``{solution}`` block removed.

``python tools/student_edition.py OUT_DIR`` (or ``make student``) copies each notebook in
``_toc.yml`` to OUT_DIR/chapters/..., with the exercises kept and their solutions taken out.
Refuses to write into the source tree so the instructors' edition is never overwritten.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from executed_book import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]

# A solution is a fenced directive: 3+ backticks or colons, "{solution}", up to the same fence.
_SOLUTION = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}.*?^(?P=fence)[ \t]*$\n?", re.S | re.M)


def strip_solutions(markdown: str) -> str:
    return _SOLUTION.sub("", markdown)


def write_student_edition(out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir).resolve()
    if out_dir == ROOT or ROOT / "chapters" in [out_dir, *out_dir.parents]:
        raise SystemExit(f"refusing to write the student edition into the source tree ({out_dir})")
    written = []
    for src in toc_notebooks():
        nb = nbformat.read(src, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown" and "{solution}" in cell.source:
                cell.source = strip_solutions(cell.source)
        dest = out_dir / src.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
        written.append(dest)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    for path in write_student_edition(Path(sys.argv[1])):
        print(path)
