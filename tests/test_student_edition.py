import sys

import nbformat
import pytest
from conftest import ROOT, toc_notebooks

sys.path.insert(0, str(ROOT / "tools"))
import student_edition  # noqa: E402


def test_strip_solutions_keeps_exercises():
    md = ("```{exercise} A\n:label: ex-a\n\nDo it.\n```\n\n````{solution} ex-a\n:class: dropdown\n\n"
          "```python\nprint(1)\n```\n````\n\nAfter.\n\n:::{solution} ex-b\nx\n:::\n")
    out = student_edition.strip_solutions(md)
    assert "{exercise} A" in out and "Do it." in out and "After." in out
    assert "{solution}" not in out and "print(1)" not in out


def test_student_edition_has_no_solutions(tmp_path):
    written = student_edition.write_student_edition(tmp_path)
    assert len(written) == len(toc_notebooks())
    for path in written:
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        assert "{solution}" not in text
        if path.parent.name == "chapters":  # appendix pages (the performance page) have no exercises
            assert text.count("{exercise}") >= 3


def test_refuses_to_overwrite_the_source_tree():
    with pytest.raises(SystemExit, match="refusing"):
        student_edition.write_student_edition(ROOT)
