"""Write the Colab edition of the book: plain Jupyter notebooks, no MyST, from the executed cpu book.

``python tools/colab_edition.py`` (or ``make colab``) reads the execution of the book at the ``cpu``
preset that ``make test`` keeps in ``_build/executed/cpu`` (executing every notebook first, and
keeping that execution for ``make book``, when there is none or the sources changed since) and writes

* ``_build/colab/chapters/...ipynb`` — one notebook per notebook of ``_toc.yml``, which Colab and
  plain Jupyter read as they are (the launch buttons open them from the ``colab`` branch);
* ``_build/colab-student/chapters/...ipynb`` — the same with every solution removed.

What changes, Markdown only (code cells stay as they are, without outputs):

* ``{glue:text}`name:fmt``` becomes the value the book's execution glued, formatted as the book
  formats it; the first glued value of each paragraph is followed by "*(measured when the book was
  built)*" at the end of its sentence (a table by a line under it), and a note under the title says so;
* ``{exercise}`` becomes a heading "### Exercise 8.1: title", numbered per chapter in order;
  ``{solution}`` a collapsed ``<details>`` block ("Solution to Exercise 8.1");
* ``{cite}``/``{cite:p}`` become "(Author, year)", ``{cite:t}`` "Author (year)", from references.bib
  (two works by the same authors in the same year: 2013a, 2013b, in the order of their titles);
* ``{ref}``/``{numref}`` become the exercise number or the section title, ``{doc}`` the page's
  title, ``{term}`` the term; ``{math}`` becomes ``$...$``; ``(label)=`` targets are removed;
* admonitions (``{note}``, ``{admonition}``, ``{tip}``, ... in backtick or colon fences) become
  block quotes; ``{math}`` blocks become ``$$...$$``; ``$``/``$$`` math stays (Colab renders it).

Code cells tagged ``remove-cell`` (the book's glue calls) are dropped, and the setup cell is replaced
by the Colab setup cell (``llmcourse.notebook.colab_setup_cell_source``), which installs the commit
the edition was built from. Any MyST syntax this script does not know stops it with an error naming
the notebook, so nothing raw reaches a reader.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import executed_book
from student_edition import strip_solutions

ROOT = executed_book.ROOT
MEASURED = "*(measured when the book was built)*"
MEASURED_TABLE = "*(Values measured when the book was built.)*"


class MystError(ValueError):
    """MyST syntax the Colab edition cannot convert."""


# --------------------------------------------------------------------------- bibliography
_ACCENTS = {"'": "\u0301", '"': "\u0308", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304",
            ".": "\u0307", "v": "\u030c", "u": "\u0306", "H": "\u030b", "c": "\u0327", "k": "\u0328"}
_LETTERS = {"L": "Ł", "l": "ł", "O": "Ø", "o": "ø", "ss": "ß", "aa": "å", "AA": "Å", "ae": "æ",
            "AE": "Æ", "oe": "œ", "OE": "Œ", "i": "ı", "j": "ȷ"}


def latex_to_text(text: str) -> str:
    """BibTeX's LaTeX accents and braces to plain Unicode: ``Sch{\\"u}tze`` → ``Schütze``."""
    def accent(m):
        letter = m.group(2) or m.group(3)
        letter = _LETTERS.get(letter.lstrip("\\"), letter.lstrip("\\"))
        return unicodedata.normalize("NFC", letter + _ACCENTS[m.group(1)])

    # \'e, \'{e}, \v{C}, \'{\i}
    text = re.sub(r"""\\(['"`^~=.]|[vuHck](?=[{\s]))\s*(?:\{(\\?[A-Za-z]+)\}|(\\?[A-Za-z]))""", accent, text)
    text = re.sub(r"\\(ss|aa|AA|ae|AE|oe|OE|[LlOo])(?![A-Za-z])\s?", lambda m: _LETTERS[m.group(1)], text)
    text = text.replace("\\&", "&").replace("~", "\u00a0").replace("--", "–")
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def _bib_value(text: str, i: int) -> tuple[str, int]:
    """The value starting at ``text[i]`` ({...} with nesting, "...", or a bare word) and the index after it."""
    if text[i] == "{":
        depth, j = 0, i
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i + 1:j], j + 1
            j += 1
        raise ValueError("unbalanced braces in references.bib")
    if text[i] == '"':
        j = text.index('"', i + 1)
        return text[i + 1:j], j + 1
    m = re.compile(r"[^,}\s]+").match(text, i)
    return m.group(0), m.end()


def parse_bibtex(text: str) -> dict[str, dict[str, str]]:
    """``{key: {field: raw value}}`` for every ``@type{key, field = value, ...}`` entry."""
    entries = {}
    for m in re.finditer(r"@(\w+)\s*\{\s*([^,\s]+)\s*,", text):
        if m.group(1).lower() in ("comment", "preamble", "string"):
            continue
        fields, i = {}, m.end()
        while True:
            f = re.compile(r"\s*(?:,\s*)?(\w[\w-]*)\s*=\s*").match(text, i)
            if not f:
                break
            value, i = _bib_value(text, f.end())
            fields[f.group(1).lower()] = value
        entries[m.group(2)] = fields
    return entries


def _last_name(person: str) -> str:
    person = person.strip()
    if "," in person:  # "von Last, First"
        return latex_to_text(person.split(",")[0])
    if person.startswith("{") and person.endswith("}"):  # {An Organisation}
        return latex_to_text(person)
    return latex_to_text(person.split()[-1])


@dataclass(frozen=True)
class Reference:
    authors: str  # as cited: "Shannon", "Pang and Lee", "Mikolov et al."
    year: str     # with a/b when the same authors have two works that year: "2013a"


def read_bibliography(text: str) -> dict[str, Reference]:
    refs, titles = {}, {}
    for key, fields in parse_bibtex(text).items():
        people = re.split(r"\s+and\s+", fields.get("author") or fields.get("editor") or "Anonymous")
        names = [_last_name(p) for p in people if p.strip() != "others"]
        if len(people) >= 3 or "others" in people:
            authors = f"{names[0]} et al."
        elif len(names) == 2:
            authors = f"{names[0]} and {names[1]}"
        else:
            authors = names[0]
        refs[key] = Reference(authors, latex_to_text(fields.get("year", "n.d.")))
        titles[key] = latex_to_text(fields.get("title", "")).lower()
    groups: dict[tuple[str, str], list[str]] = {}
    for key, ref in refs.items():
        groups.setdefault((ref.authors, ref.year), []).append(key)
    for (authors, year), keys in groups.items():
        if len(keys) > 1 and year.isdigit():
            for letter, key in zip("abcdefghijklmnopqrstuvwxyz", sorted(keys, key=lambda k: (titles[k], k))):
                refs[key] = Reference(authors, year + letter)
    return refs


def cite(keys: list[str], refs: dict[str, Reference], textual: bool) -> str:
    """"(Mikolov et al., 2013a, 2013b; Levy and Goldberg, 2014)" or, textual, "Mikolov et al. (2013a, 2013b)"."""
    groups: list[tuple[str, list[str]]] = []
    for key in keys:
        if key not in refs:
            raise MystError(f"citation {key!r} is not in references.bib")
        ref = refs[key]
        if groups and groups[-1][0] == ref.authors:
            groups[-1][1].append(ref.year)
        else:
            groups.append((ref.authors, [ref.year]))
    if textual:
        return ", ".join(f"{authors} ({', '.join(years)})" for authors, years in groups)
    return "(" + "; ".join(f"{authors}, {', '.join(years)}" for authors, years in groups) + ")"


def glue_text(bundle: dict, fmt: str) -> str:
    """The text the book shows for ``{glue:text}`name:fmt``` (MyST-NB's own formatting)."""
    from myst_nb.core.variables import format_plain_text

    if "text/plain" not in bundle:
        raise MystError("the glued value has no text/plain form")
    return format_plain_text(bundle["text/plain"], fmt)


# --------------------------------------------------------------------------- Markdown
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
_DIRECTIVE_INFO = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
_ROLE = re.compile(r"\{(?P<name>[a-z][\w:+-]*)\}`(?P<content>[^`]*)`")
_TARGET = re.compile(r"^\s*\(([^()\s]+)\)=\s*$")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
ADMONITIONS = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
               "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
               "seealso": "See also", "admonition": None}


@dataclass
class Directive:
    name: str
    argument: str
    options: dict
    body: str


def split_blocks(markdown: str) -> list:
    """The Markdown as a list of ``str`` (prose), ``("code", text)`` (code fences and ``$$`` math,
    kept verbatim) and ``Directive`` (MyST ``{name}`` fences, body not yet converted)."""
    lines = markdown.split("\n")
    blocks, prose, i = [], [], 0

    def flush():
        if prose:
            blocks.append("\n".join(prose))
            prose.clear()

    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m and not (m.group("fence")[0] == ":" and not m.group("info").startswith("{")):
            indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").strip()
            close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            if j == len(lines):
                raise MystError(f"unclosed fence {fence}{info}")
            body = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1:j]]
            d = _DIRECTIVE_INFO.match(info)
            flush()
            if d:
                options, k = {}, 0
                if body and body[0].strip() == "---":  # YAML options block
                    end = body.index("---", 1)
                    import yaml

                    options = yaml.safe_load("\n".join(body[1:end])) or {}
                    k = end + 1
                else:
                    while k < len(body) and (o := re.match(r"^:([\w-]+):\s*(.*)$", body[k])):
                        options[o.group(1)] = o.group(2).strip()
                        k += 1
                blocks.append(Directive(d.group("name"), d.group("arg").strip(), options,
                                        "\n".join(body[k:]).strip("\n")))
            else:
                blocks.append(("code", "\n".join(lines[i:j + 1])))
            i = j + 1
            continue
        if line.strip().startswith("$$") and not (line.strip().endswith("$$") and len(line.strip()) > 2):
            j = i + 1
            while j < len(lines) and "$$" not in lines[j]:
                j += 1
            flush()
            blocks.append(("code", "\n".join(lines[i:j + 1])))
            i = j + 1
            continue
        prose.append(line)
        i += 1
    flush()
    return blocks


def _mask(text: str) -> str:
    """``text`` with roles, code spans and math blanked out (same length), to search its prose."""
    for pattern in (_ROLE, re.compile(r"`[^`]*`"), re.compile(r"\$\$.*?\$\$", re.S), re.compile(r"\$[^$]+\$", re.S)):
        text = pattern.sub(lambda m: "x" * len(m.group(0)), text)
    return text


_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|\n(?=[ \t]*(?:[-*+]|\d+[.)])[ \t])")


def _mark_measured(paragraph: str, after: int) -> str:
    """Put MEASURED at the end of the sentence (or list item, or paragraph) that goes on after ``after``."""
    line = paragraph[paragraph.rfind("\n", 0, after) + 1:]
    if line.lstrip().startswith("|"):  # a table: a line under it
        return paragraph.rstrip() + "\n\n" + MEASURED_TABLE
    m = _SENTENCE_END.search(_mask(paragraph), after)
    at = m.start() if m else len(paragraph.rstrip())
    if not m and paragraph[:at].endswith(":"):  # "... as follows:" before a code block or a list
        at -= 1
    return paragraph[:at] + " " + MEASURED + paragraph[at:]


@dataclass
class Context:
    """What one notebook's Markdown is converted with."""
    glued: dict                         # name -> MIME bundle
    refs: dict                          # citation key -> Reference
    labels: dict = field(default_factory=dict)  # exercise or section label -> its text ("Exercise 8.1", a title)
    exercises: dict = field(default_factory=dict)  # exercise label -> number ("8.1")
    numbers: list = field(default_factory=list)    # every numbered exercise's number, in order
    chapter: str | None = None          # "8" for chapters/08_*.ipynb
    docs: dict = field(default_factory=dict)  # {doc} target -> title
    student: bool = False
    where: str = ""
    _converted: int = 0  # numbered exercises converted so far

    def next_exercise(self) -> str:
        number = self.numbers[self._converted]
        self._converted += 1
        return number


def _role(m, ctx: Context) -> str:
    name, content = m.group("name"), m.group("content")
    explicit = _EXPLICIT.match(content)
    if name in ("glue:text", "glue:md", "glue"):
        key, _, fmt = content.partition(":") if name == "glue:text" else (content, "", "")
        if key not in ctx.glued:
            raise MystError(f"{{{name}}}`{content}`: nothing is glued as {key!r}")
        bundle = ctx.glued[key]
        if name == "glue:md" and "text/markdown" in bundle:
            return bundle["text/markdown"]
        try:
            return glue_text(bundle, fmt)
        except (ValueError, TypeError) as err:
            raise MystError(f"{{{name}}}`{content}`: {err}") from None
    if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"):
        return cite([k.strip() for k in content.split(",") if k.strip()], ctx.refs, textual=name.startswith("cite:t"))
    if name in ("ref", "numref"):
        label = explicit.group("target") if explicit else content
        if label not in ctx.labels:
            raise MystError(f"{{{name}}}`{content}`: no exercise or section is labelled {label!r} in this notebook")
        if explicit:
            text = explicit.group("text")
            return text.replace("%s", ctx.exercises.get(label, "")).replace("{number}", ctx.exercises.get(label, ""))
        return ctx.labels[label]
    if name == "doc":
        if explicit:
            return explicit.group("text")
        return ctx.docs.get(content, content.rsplit("/", 1)[-1].replace("_", " "))
    if name in ("term", "abbr"):
        return explicit.group("text") if explicit else re.sub(r"\s*\(.*\)$", "", content) if name == "abbr" else content
    if name == "math":
        return f"${content}$"
    raise MystError(f"the role {{{name}}}`{content}` has no Colab form (teach tools/colab_edition.py)")


def convert_prose(text: str, ctx: Context) -> str:
    """Roles to text, targets removed, and the measured-values mark, paragraph by paragraph."""
    text = "\n".join(line for line in text.split("\n") if not _TARGET.match(line))
    paragraphs = re.split(r"(\n[ \t]*\n)", text)
    for k in range(0, len(paragraphs), 2):
        par = paragraphs[k]
        first_glue = next((m for m in _ROLE.finditer(par) if m.group("name").startswith("glue")), None)
        if first_glue is not None:
            par = _mark_measured(par, first_glue.end())
        paragraphs[k] = _ROLE.sub(lambda m: _role(m, ctx), par)
    return "".join(paragraphs)


def _quote(markdown: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in markdown.split("\n"))


def convert_markdown(markdown: str, ctx: Context) -> str:
    """A MyST Markdown cell as plain (Colab/Jupyter) Markdown."""
    if ctx.student:
        markdown = strip_solutions(markdown)
    out = []
    for block in split_blocks(markdown):
        if isinstance(block, str):
            out.append(convert_prose(block, ctx))
        elif isinstance(block, tuple):
            out.append(block[1])
        else:
            out.append(_convert_directive(block, ctx))
    return "\n".join(out)


def _convert_directive(d: Directive, ctx: Context) -> str:
    body = convert_markdown(d.body, ctx)
    if d.name == "exercise":
        number = None if "nonumber" in d.options else ctx.next_exercise()
        title = convert_prose(d.argument, ctx) if d.argument else ""
        heading = "### Exercise" + (f" {number}" if number else "") + (f": {title}" if title else "")
        return f"{heading}\n\n{body}"
    if d.name == "solution":
        label = d.argument.split()[0] if d.argument else ""
        if label not in ctx.exercises:
            raise MystError(f"a solution for {label!r}, which is not an exercise of this notebook")
        return (f"<details>\n<summary>Solution to Exercise {ctx.exercises[label]}</summary>\n\n{body}\n\n</details>")
    if d.name in ADMONITIONS:
        title = convert_prose(d.argument, ctx) if d.name == "admonition" else ADMONITIONS[d.name]
        if d.name != "admonition" and d.argument:  # {note} text on the fence line is its first line
            body = convert_prose(d.argument, ctx) + ("\n" + body if body else "")
        return _quote(f"**{title}**\n\n{body}" if title else body)
    if d.name == "dropdown":
        return f"<details>\n<summary>{convert_prose(d.argument, ctx) or 'Details'}</summary>\n\n{body}\n\n</details>"
    if d.name == "math":
        return f"$$\n{d.body}\n$$"
    raise MystError(f"the directive {{{d.name}}} has no Colab form (teach tools/colab_edition.py)")


def _collect_labels(nb, ctx: Context):
    """Number the exercises in order and find every section label, before converting (refs point forward too)."""
    def walk(markdown):
        blocks = split_blocks(markdown)
        for k, block in enumerate(blocks):
            if isinstance(block, Directive):
                if block.name == "exercise" and "nonumber" not in block.options:
                    count = len(ctx.numbers) + 1
                    number = f"{ctx.chapter}.{count}" if ctx.chapter else str(count)
                    ctx.numbers.append(number)
                    if block.options.get("label"):
                        ctx.exercises[block.options["label"]] = number
                        ctx.labels[block.options["label"]] = f"Exercise {number}"
                walk(block.body)
            elif isinstance(block, str):
                lines = block.split("\n")
                for i, line in enumerate(lines):
                    t = _TARGET.match(line)
                    if t:
                        following = next((ln for ln in lines[i + 1:] if ln.strip()), "")
                        h = _HEADING.match(following)
                        ctx.labels[t.group(1)] = re.sub(r"[*_`]", "", h.group(1)) if h else t.group(1)

    for cell in nb.cells:
        if cell.cell_type == "markdown" and "remove-cell" not in cell.metadata.get("tags", []):
            walk(cell.source)


# --------------------------------------------------------------------------- notebooks
def chapter_number(relative: Path) -> str | None:
    m = re.match(r"(\d+)_", relative.name)
    return str(int(m.group(1))) if m else None


def page_titles(root: Path = ROOT) -> dict[str, str]:
    """``{doc target: title}`` for ``{doc}`` roles: every page of _toc.yml, by its path from the root
    and from chapters/."""
    titles = {}
    for entry in executed_book.toc_files(root):
        for ext in (".ipynb", ".md"):
            path = root / f"{entry}{ext}"
            if not path.exists():
                continue
            if ext == ".ipynb":
                text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
            else:
                text = path.read_text(encoding="utf-8")
            m = re.search(r"^#\s+(.+)$", text, re.M)
            title = m.group(1).strip() if m else Path(entry).name
            titles[entry] = titles[f"/{entry}"] = titles[entry.removeprefix("chapters/")] = title
    return titles


def is_setup_cell(cell) -> bool:
    from llmcourse.notebook import setup_cell_source

    return cell.cell_type == "code" and cell.source == setup_cell_source()


def colab_notebook(executed, relative: Path, refs: dict, setup_source: str, *, student: bool = False,
                   built: str = "", docs: dict | None = None):
    """The Colab form of one executed notebook (``relative``: its path in the book, for numbering)."""
    ctx = Context(glued=executed_book.glued_bundles(executed), refs=refs, chapter=chapter_number(relative), docs=docs or {},
                  student=student, where=str(relative))
    _collect_labels(executed, ctx)
    nb = nbformat.v4.new_notebook()
    nb.metadata = copy.deepcopy(executed.metadata)
    nb.metadata["colab"] = {"provenance": [], "toc_visible": True}
    setup_found = note_added = False
    for cell in executed.cells:
        if "remove-cell" in cell.metadata.get("tags", []):
            continue  # the book's machinery (glue calls): hidden in the book, absent here
        if cell.cell_type == "code" and is_setup_cell(cell):
            new = nbformat.v4.new_code_cell(setup_source, metadata={"cellView": "form"})  # collapsed in Colab
            setup_found = True
        elif cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source)
        elif cell.cell_type == "markdown":
            try:
                new = nbformat.v4.new_markdown_cell(convert_markdown(cell.source, ctx))
            except MystError as err:
                raise MystError(f"{relative}: {err}") from None
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        if not new.metadata:
            new.metadata = {k: v for k, v in cell.metadata.items() if k not in ("execution", "scrolled")}
        if cell.get("id"):
            new.id = cell.id  # stable ids: a rebuild changes only what changed
        nb.cells.append(new)
        if cell.cell_type == "markdown" and not note_added and cell.source.lstrip().startswith("# "):
            nb.cells.append(nbformat.v4.new_markdown_cell(_edition_note(built, bool(ctx.glued), student),
                                                          id="colab-edition-note"))
            note_added = True
    if not setup_found:
        raise MystError(f"{relative}: no setup cell (llmcourse.notebook.setup_cell_source()) to replace")
    return nb


def _edition_note(built: str, has_glue: bool, student: bool) -> str:
    lines = ["> **Colab edition.** This is the notebook of the book's chapter, ready to run: run the cells "
             "in order (the first installs the course package). "
             "Choose *Runtime → Change runtime type → GPU* for bigger models (the `gpu` preset)."]
    if has_glue:
        when = f" ({built}, at the `cpu` preset)" if built else " (at the `cpu` preset)"
        lines.append(f"> Numbers in the text come from the run of this notebook when the book was built{when}; "
                     f"the first in each paragraph is marked {MEASURED}. Your run prints its own, which "
                     "differ on another preset or machine.")
    if student:
        lines.append("> This is the student edition: the exercises have no solutions here.")
    return "\n>\n".join(lines)


# --------------------------------------------------------------------------- the edition
def jax_requirement(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """pyproject.toml's version range for jax (the one place it is stated), e.g. ``">=0.5"``."""
    from packaging.requirements import Requirement

    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    for dep in deps:
        req = Requirement(dep)
        if req.name == "jax":
            return str(req.specifier)
    raise ValueError(f"{pyproject} lists no jax dependency")


def tested_ref(root: Path = ROOT) -> str:
    """The commit the edition is built from (``git rev-parse HEAD``), or ``v<version>`` outside git."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        result = None
    if result is not None and result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", result.stdout.strip()):
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "llmcourse", "pyproject.toml"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        if dirty:
            print("warning: llmcourse/ or pyproject.toml differ from HEAD; the Colab notebooks install commit "
                  f"{result.stdout.strip()[:12]}, without those changes", file=sys.stderr)
        return result.stdout.strip()
    from llmcourse.config import VERSION

    return f"v{VERSION}"


def write_edition(executed_root: Path, out_dir: Path, *, student: bool = False, ref: str | None = None,
                  bib: Path | None = None, notebooks: list[Path] | None = None) -> list[Path]:
    """Convert every notebook of ``notebooks`` (paths relative to ``executed_root``; default: those of
    _toc.yml) from the executed copies under ``executed_root`` into ``out_dir``."""
    from llmcourse.notebook import colab_setup_cell_source

    executed_root, out_dir = Path(executed_root), Path(out_dir).resolve()
    if out_dir == ROOT or ROOT / "chapters" in [out_dir, *out_dir.parents]:
        raise SystemExit(f"refusing to write the Colab edition into the source tree ({out_dir})")
    refs = read_bibliography((bib or executed_root / "references.bib").read_text(encoding="utf-8"))
    ref = ref or tested_ref()
    setup = colab_setup_cell_source(ref, jax_requirement())
    if notebooks is None:
        notebooks = [p.relative_to(executed_root) for p in executed_book.toc_notebooks(executed_root)]
        if not notebooks:
            raise SystemExit(f"no notebooks in {executed_root / '_toc.yml'}")
    built = ""
    stamp = executed_root / executed_book.STAMP
    if stamp.exists():
        built = json.loads(stamp.read_text(encoding="utf-8")).get("created", "")[:10]
    docs = page_titles(executed_root) if (executed_root / "_toc.yml").exists() else {}
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    written = []
    for relative in notebooks:
        executed = nbformat.read(executed_root / relative, as_version=4)
        nb = colab_notebook(executed, Path(relative), refs, setup, student=student, built=built, docs=docs)
        dest = tmp / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
        written.append(out_dir / relative)
    kind = "student Colab edition (no solutions)" if student else "Colab edition"
    (tmp / "README.md").write_text(
        f"# Large language models from the ground up — {kind}\n\n"
        f"Written by `make colab` (tools/colab_edition.py) from commit {ref} of "
        f"https://github.com/llmcourse/llmcourse and its execution at the cpu preset{' of ' + built if built else ''}. "
        "Do not edit: the notebooks are generated.\n", encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return written


def executed_cpu_book() -> Path:
    """The kept cpu execution of the book, executing (and keeping) one first when there is none that
    matches the sources."""
    source = executed_book.kept("cpu")
    if source is not None:
        stamp = json.loads((source / executed_book.STAMP).read_text(encoding="utf-8"))
        print(f"using the cpu execution of {stamp['created']} (_build/executed/cpu, sources unchanged since)")
        return source
    print("no execution of the current sources at the cpu preset in _build/executed/cpu (make test keeps one): "
          "executing every notebook now (10-15 min on 2 cores); make book will render this execution")
    with tempfile.TemporaryDirectory(prefix="llmcourse-colab-") as tmp:
        run = executed_book.BookRun(Path(tmp), "cpu")
        try:
            kept = run.keep()
            if kept is None:
                failed = {str(k): str(err)[-2000:] for k, (_, err, _) in run.results().items() if err is not None}
                raise SystemExit("notebooks failed at the cpu preset, no Colab edition written:\n"
                                 + "\n".join(f"--- {k}\n{v}" for k, v in failed.items()))
        finally:
            run.close()
    return kept


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "colab")
    parser.add_argument("--student-out", type=Path, default=ROOT / "_build" / "colab-student")
    args = parser.parse_args(argv)
    source = executed_cpu_book()
    ref = tested_ref()
    for out, student in ((args.out, False), (args.student_out, True)):
        written = write_edition(source, out, student=student, ref=ref)
        print(f"{len(written)} notebooks in {out}" + (" (solutions removed)" if student else ""))
    print(f"their setup cells install commit {ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
