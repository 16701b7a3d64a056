"""The book's scoreboard: one fixed validation text that every language model is scored on.

Every language model the book trains — n-grams (chapter 5), recurrent networks (chapter 7), GPTs
(chapter 8 on) — reports ``llmcourse.metrics.bits_per_char`` on ``text(cfg)`` and
records a row with ``record``; ``scoreboard(cfg)`` lists the rows of a preset, best first.
Rows live in one file under the cache directory, so every chapter's kernel adds to the same board.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from llmcourse.data import cache_dir, wikipedia_text

# --------------------------------------------------------------------------- the scoreboard
SCOREBOARD_FILE = "scoreboard.json"
_SCOREBOARD_FORMAT = 1


class ScoreboardError(ValueError):
    """The scoreboard file is corrupt (its contents do not match their SHA-256, or it is not a
    scoreboard), or a score to record is invalid."""


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


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def load_file(path=None) -> list[Score]:
    """Every row in the scoreboard file (all presets); ``[]`` when there is no file yet.

    Raises ``ScoreboardError`` when the file is unreadable, not a scoreboard, or its rows do not
    match the SHA-256 stored with them (it was altered or half-written).
    """
    path = file_path() if path is None else Path(path)
    if not path.exists():
        return []
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        payload, digest = entry["payload"], entry["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ScoreboardError(f"{path} is not a readable scoreboard ({err}); refusing to use it") from None
    if _digest(payload) != digest:
        raise ScoreboardError(f"{path} is corrupt: its rows do not match their SHA-256; refusing to use it")
    try:
        if payload["format"] != _SCOREBOARD_FORMAT:
            raise ScoreboardError(f"{path} has scoreboard format {payload['format']!r}, expected {_SCOREBOARD_FORMAT}")
        return [Score(**row) for row in payload["rows"]]
    except (KeyError, TypeError) as err:
        raise ScoreboardError(f"{path} is not a scoreboard ({err}); refusing to use it") from None


def _write_file(rows: list[Score], path: Path) -> None:
    payload = {"format": _SCOREBOARD_FORMAT, "rows": [asdict(r) for r in rows]}
    entry = {"sha256": _digest(payload), "payload": payload}
    # a temporary file renamed over the old one: a crash never leaves a half-written scoreboard
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".scoreboard-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record(model_name: str, bits: float, cfg, chapter: int, details: str = "") -> Score:
    """Add (or replace) the row ``model_name`` of ``cfg``'s preset and return it.

    ``bits`` must be the model's ``bits_per_char`` on ``text(cfg)``; the row stores that
    text's length and SHA-256. A corrupt scoreboard file is never used: it is renamed to
    ``scoreboard.json.corrupt`` with a warning and a fresh scoreboard is started.
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
    with _scoreboard_lock(path):
        try:
            kept = load_file(path)
        except ScoreboardError as err:
            warnings.warn(f"{err}; moving it to {path.name}.corrupt and starting a new scoreboard", stacklevel=2)
            os.replace(path, path.with_name(path.name + ".corrupt"))
            kept = []
        kept = [r for r in kept if not (r.preset == row.preset and r.model == row.model)] + [row]
        _write_file(kept, path)
    return row


class _scoreboard_lock:
    """An exclusive lock on ``scoreboard.json.lock`` while a row is added, so two kernels adding
    rows at once do not lose one (POSIX ``fcntl``; elsewhere no lock)."""

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".lock")

    def __enter__(self):
        self.file = open(self.path, "a")
        try:
            import fcntl

            fcntl.flock(self.file, fcntl.LOCK_EX)
        except ImportError:  # Windows: no lock; adding rows from two kernels at once is unlikely
            pass
        return self

    def __exit__(self, *exc):
        self.file.close()  # closing releases the lock


def rows(cfg) -> list[Score]:
    """The rows of ``cfg``'s preset, best (fewest bits per character) first.

    Only rows scored on today's ``text(cfg)`` count; others (e.g. from an older version
    of the data) are left out with a warning. A corrupt file is never used: a warning, and ``[]``.
    """
    try:
        every = load_file()
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
