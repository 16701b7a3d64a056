"""The book's scoreboard: one fixed validation text that every language model is scored on.

Every language model the book trains — n-grams (chapter 5), recurrent networks (chapter 7), GPTs
(chapter 8 on) — reports ``llmcourse.metrics.bits_per_char`` on ``text(cfg)`` and
records a row with ``record``; ``scoreboard(cfg)`` lists the rows of a preset, best first.
Rows live in one file under the cache directory, so every chapter's kernel adds to the same board:
a sealed JSON file (``llmcourse.sealed``, kind ``"llmcourse scoreboard"``) whose payload is
``{"rows": [...]}``, rewritten atomically under a file lock (``filelock``) so two kernels adding
rows at once lose neither.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from filelock import FileLock

from llmcourse.data import cache_dir, wikipedia_text
from llmcourse.sealed import SealedError, SealedFormatError, read_sealed, write_sealed

# --------------------------------------------------------------------------- the scoreboard
SCOREBOARD_FILE = "scoreboard.json"
_SCOREBOARD_KIND = "llmcourse scoreboard"
_SCOREBOARD_FORMAT = 2  # 1: {"sha256", "payload"} of its own; 2: a sealed file (llmcourse.sealed)


class ScoreboardError(ValueError):
    """The scoreboard file is corrupt (altered, truncated, or not a scoreboard), or a score to
    record is invalid. ``problem`` says what is wrong with a corrupt file."""

    problem = ""


class ScoreboardFormatError(ScoreboardError):
    """The scoreboard file was written by a newer llmcourse: refused (upgrade), never moved aside."""


@dataclass(frozen=True)
class Score:
    """One row of the scoreboard: a model's bits per character on the validation text."""

    model: str  # a stable name, e.g. "char n-gram, Kneser–Ney"; recording it again replaces the row
    bits_per_char: float
    chapter: int  # where the book trains it
    details: str  # settings that matter: order, size, training steps, ...
    preset: str
    validation_chars: int  # how many characters were scored
    validation_sha256: str  # of the scored text: rows scored on a different text are never mixed in


def text(cfg) -> str:
    """The scoreboard's text: ``wikipedia_text("validation")``, the whole split in the ``cpu`` and
    ``gpu`` presets (``cfg.data.scoreboard_max_chars`` exceeds its length) and its first
    ``cfg.data.scoreboard_max_chars`` characters in ``tiny``. Fixed: the split's seed never changes."""
    return wikipedia_text("validation", max_chars=cfg.data.scoreboard_max_chars)


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_path() -> Path:
    """The scoreboard file: ``scoreboard.json`` in ``llmcourse.data.cache_dir()``, shared by every
    chapter's kernel on this machine. Rows are kept per preset."""
    return cache_dir() / SCOREBOARD_FILE


_ROW_TYPES = {"model": str, "bits_per_char": (int, float), "chapter": int, "details": str, "preset": str,
              "validation_chars": int, "validation_sha256": str}


def _corrupt(path: Path, problem: str) -> ScoreboardError:
    err = ScoreboardError(f"{path}: corrupt scoreboard (it {problem}); refusing to use it")
    err.problem = problem
    return err


def _row(path: Path, index: int, row) -> Score:
    names = [f.name for f in fields(Score)]
    if not isinstance(row, dict) or sorted(row) != sorted(names):
        found = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise _corrupt(path, f"has a row {index} with the fields {found}, expected {names}")
    for name, kind in _ROW_TYPES.items():
        if isinstance(row[name], bool) or not isinstance(row[name], kind):
            raise _corrupt(path, f"has a row {index} whose {name} is {row[name]!r}")
    return Score(**row)


def load_file(path=None) -> list[Score]:
    """Every row in the scoreboard file (all presets); ``[]`` when there is no file yet.

    Raises ``ScoreboardError`` when the file is unreadable, not a scoreboard, or altered or
    half-written (its seal does not match), and ``ScoreboardFormatError`` when a newer llmcourse
    wrote it.
    """
    path = file_path() if path is None else Path(path)
    if not path.exists():
        return []
    try:
        payload = read_sealed(path, _SCOREBOARD_KIND, _SCOREBOARD_FORMAT)
    except SealedFormatError as err:
        raise ScoreboardFormatError(str(err)) from None
    except SealedError as err:
        raise _corrupt(path, err.problem) from None
    if not isinstance(payload, dict) or sorted(payload) != ["rows"] or not isinstance(payload["rows"], list):
        raise _corrupt(path, 'is not {"rows": [...]}')
    return [_row(path, i, row) for i, row in enumerate(payload["rows"])]


def _write_file(rows: list[Score], path: Path) -> None:
    # sealed files are written to a temporary file and renamed: never a half-written scoreboard
    write_sealed(path, _SCOREBOARD_KIND, {"rows": [asdict(r) for r in rows]}, _SCOREBOARD_FORMAT)


def _move_aside(path: Path) -> Path:
    """Rename a corrupt scoreboard to ``scoreboard.json.corrupt-<UTC time>`` (``-2``, ``-3``, ...
    if that exists: an earlier backup is never overwritten). Called with the lock held."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while backup.exists() or backup.is_symlink():
        n += 1
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.rename(backup)
    return backup


def record(model_name: str, bits: float, cfg, chapter: int, details: str = "") -> Score:
    """Add (or replace) the row ``model_name`` of ``cfg``'s preset and return it.

    ``bits`` must be the model's ``bits_per_char`` on ``text(cfg)``; the row stores that
    text's length and SHA-256. A corrupt scoreboard file is never used: it is renamed to
    ``scoreboard.json.corrupt-<time>`` with a one-line warning and a fresh scoreboard is started.
    One written by a newer llmcourse is refused (``ScoreboardFormatError``) and left where it is.
    """
    if not isinstance(model_name, str) or not model_name.strip():
        raise ScoreboardError(f"model_name must be a non-empty str, got {model_name!r}")
    if isinstance(bits, bool) or not isinstance(bits, (int, float, np.floating)) or not math.isfinite(bits) or bits <= 0:
        raise ScoreboardError(f"bits per character must be a finite number > 0, got {bits!r}")
    if isinstance(chapter, bool) or not isinstance(chapter, (int, np.integer)) or chapter < 1:
        raise ScoreboardError(f"chapter must be an int >= 1, got {chapter!r}")
    scored = text(cfg)
    row = Score(model=model_name.strip(), bits_per_char=float(bits), chapter=int(chapter), details=str(details),
                preset=cfg.name, validation_chars=len(scored), validation_sha256=_text_digest(scored))
    path = file_path()
    with FileLock(str(path.with_name(path.name + ".lock"))):
        try:
            kept = load_file(path)
        except ScoreboardFormatError:
            raise
        except ScoreboardError as err:
            backup = _move_aside(path)
            warnings.warn(f"{path}: corrupt scoreboard (it {err.problem}); moved it to {backup.name}, starting a "
                          "new scoreboard", stacklevel=2)
            kept = []
        kept = [r for r in kept if not (r.preset == row.preset and r.model == row.model)] + [row]
        _write_file(kept, path)
    return row


def rows(cfg) -> list[Score]:
    """The rows of ``cfg``'s preset, best (fewest bits per character) first.

    Only rows scored on today's ``text(cfg)`` count; others (e.g. from an older version
    of the data) are left out with a warning. A corrupt file is never used: a warning, and ``[]``;
    one written by a newer llmcourse raises ``ScoreboardFormatError``.
    """
    try:
        every = load_file()
    except ScoreboardFormatError:
        raise
    except ScoreboardError as err:
        warnings.warn(str(err), stacklevel=2)
        return []
    mine = [r for r in every if r.preset == cfg.name]
    digest = _text_digest(text(cfg)) if mine else None
    stale = [r.model for r in mine if r.validation_sha256 != digest]
    if stale:
        warnings.warn(f"left out scoreboard rows scored on a different validation text: {stale}", stacklevel=2)
    return sorted((r for r in mine if r.validation_sha256 == digest), key=lambda r: r.bits_per_char)


def markdown(scores: list[Score]) -> str:
    """The rows as a Markdown table (display with ``IPython.display.Markdown``)."""
    lines = ["| model | bits per character | chapter | details |", "|---|---:|---:|---|"]
    for r in scores:
        cells = [c.replace("|", "\\|") for c in (r.model, f"{r.bits_per_char:.3f}", str(r.chapter), r.details)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
