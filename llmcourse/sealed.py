"""Sealed JSON: the one file format in which llmcourse keeps JSON on disk.

Cached data, tokenizers, the scoreboard, checkpoint manifests and the model store's entries are all
sealed files. A sealed file is one JSON object with four fields::

    {"kind": "tokenizer", "format": 1, "sha256": "9f86d0…", "payload": …}

* ``kind`` — what the file holds. A reader asks for one kind and refuses every other, so a
  tokenizer file is never read as a cache entry.
* ``format`` — the layout version of that kind's payload, an int >= 1. A reader knows one format;
  a file of a newer one was written by a newer llmcourse and is refused with
  ``SealedFormatError`` (upgrade), never taken for a corrupt file; an older one is refused with
  ``SealedError`` (its writer rebuilds it).
* ``sha256`` — the hex SHA-256 of the payload's canonical text (``canonical_json``)::

      sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

  so a truncated or edited payload is refused, never used. The hash detects accidents (a crash, a
  full disk, a stray edit), not forgery: anyone can recompute it.
* ``payload`` — any JSON value: dicts with str keys, lists, str, int, float, bool, None. (Floats may
  be NaN or ±Infinity, Python's extension of JSON, so a training history with an infinite metric can
  still be kept.) Tuples are written as lists.

``write_sealed`` writes atomically: into a temporary file in the same directory, flushed and
fsynced, then ``os.replace``d over the target, so a reader sees the old file or the new one, never
half of one. The temporary file is removed if anything fails, Ctrl-C included.

Every refusal is a ``SealedError`` (a ``ValueError``) whose message reads
``"<path>: <what is wrong>; <what to do or what happens>"``; ``err.path`` and ``err.problem`` let a
caller say what it does instead (e.g. "rebuilding it").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("kind", "format", "sha256", "payload")


class SealedError(ValueError):
    """A sealed file that cannot be read or written: missing, unreadable, not a sealed file, of
    another kind or an older format, or altered since it was written."""

    def __init__(self, path, problem: str, remedy: str = "delete it or write it again"):
        self.path, self.problem, self.remedy = Path(path), problem, remedy
        super().__init__(f"{path}: {problem}; {remedy}")


class SealedFormatError(SealedError):
    """A sealed file written by a newer llmcourse (a newer format of its kind). Not corrupt: an
    upgraded llmcourse reads it, so callers must not delete or rebuild it."""


# --------------------------------------------------------------------------- canonical JSON
def check_json(value, name: str = "payload") -> None:
    """Raise ``TypeError`` unless ``value`` is JSON-like: dicts with str keys, lists, tuples, str,
    int, float, bool, None (nested). The message names where the first offender sits, e.g.
    ``settings['lr']: numpy.float32 is not JSON``."""
    stack = [(value, name)]
    while stack:  # iterative, so a deeply nested value cannot overflow the recursion limit
        item, where = stack.pop()
        if item is None or isinstance(item, (str, bool, int, float)):
            continue
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"{where} has the key {key!r} of type {type(key).__name__}; JSON object "
                                    "keys must be str")
                stack.append((inner, f"{where}[{key!r}]"))
        elif isinstance(item, (list, tuple)):
            stack.extend((inner, f"{where}[{i}]") for i, inner in enumerate(item))
        else:
            kind = type(item)
            raise TypeError(f"{where}: {kind.__module__}.{kind.__qualname__} is not JSON; allowed: dict with "
                            "str keys, list, tuple, str, int, float, bool, None (convert NumPy values with "
                            ".tolist() or float())")


def canonical_json(value) -> str:
    """The one text of a JSON value that its hash is taken over: sorted keys, no spaces, UTF-8
    characters as they are. Equal values give equal text; tuples read as lists."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


def digest(value) -> str:
    """Hex SHA-256 of ``canonical_json(value)`` — also the store's way of hashing key material."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _check_kind_format(kind, format) -> None:
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"kind must be a non-empty str, got {kind!r}")
    if isinstance(format, bool) or not isinstance(format, int) or format < 1:
        raise TypeError(f"format must be an int >= 1, got {format!r}")


# --------------------------------------------------------------------------- writing
def _cache_hint(directory: Path) -> str:
    """What to do about a directory that cannot be written; names $LLMCOURSE_CACHE when the
    directory is inside llmcourse's cache."""
    # imported here: llmcourse.data itself writes its cache with this module
    from llmcourse.data import CACHE_ENV_VAR, cache_dir

    try:
        root = cache_dir()
        inside = directory.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):  # the cache directory itself cannot be made (DataError)
        inside = False
    if inside:
        return (f"make it writable, or set ${CACHE_ENV_VAR} to a writable directory to move llmcourse's "
                f"cache (now {root})")
    return "make it writable or choose another directory"


def write_sealed(path, kind: str, payload, format: int) -> Path:
    """Write ``payload`` as a sealed file of ``kind`` and ``format`` at ``path``, atomically.

    The directory is created if needed. Raises ``TypeError`` for a payload that is not JSON-like
    (before anything is written) and ``SealedError`` when the directory cannot be written, naming
    the directory and what to do. Returns the path.
    """
    path = Path(path)
    _check_kind_format(kind, format)
    check_json(payload)
    try:
        seal = digest(payload)
        text = json.dumps({"kind": kind, "format": format, "sha256": seal, "payload": payload},
                          ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    except RecursionError:
        raise TypeError("payload is nested too deeply to be written as JSON") from None
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # O_EXCL: the name is ours alone; mode 0o666 minus the umask, like any file the user writes
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise SealedError(directory, f"cannot write {path.name} in this directory ({err.strerror or err})",
                          _cache_hint(directory)) from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # Ctrl-C included: never leave the temporary file behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise SealedError(directory, f"cannot write {path.name} in this directory ({err.strerror or err})",
                              _cache_hint(directory)) from err
        raise
    try:  # make the rename itself durable (best effort: not every file system allows it)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


# --------------------------------------------------------------------------- reading
def _describe(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def read_sealed(path, kind: str, format: int):
    """Return the payload of the sealed file at ``path`` if it is intact and of ``kind`` and
    ``format``; raise ``SealedError`` otherwise (``SealedFormatError`` for a newer format)."""
    path = Path(path)
    _check_kind_format(kind, format)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SealedError(path, "does not exist") from None
    except OSError as err:
        raise SealedError(path, f"cannot be read ({err.strerror or err})",
                          "check its permissions, or delete it") from None
    try:
        outer = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise SealedError(path, f"is not UTF-8 text (byte {err.start}); it is not a sealed llmcourse file") from None
    except ValueError as err:
        raise SealedError(path, f"is not valid JSON, so truncated or corrupt ({err})") from None
    except RecursionError:
        raise SealedError(path, "is JSON nested too deeply to be a sealed llmcourse file") from None
    if not isinstance(outer, dict):
        raise SealedError(path, f"holds {_describe(outer)}, not a sealed llmcourse file (a JSON object with "
                                f"fields {', '.join(_FIELDS)})")
    found = outer.get("kind")
    if found != kind:
        what = "no kind" if found is None else f"a {found!r}" if isinstance(found, str) else f"the kind {found!r}"
        raise SealedError(path, f"holds {what}, not a {kind!r}")
    version = outer.get("format")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SealedError(path, f"has no valid format number (found {version!r})")
    if version > format:
        raise SealedFormatError(
            path, f"was written by a newer llmcourse ({kind} format {version}; this llmcourse reads format {format})",
            "upgrade llmcourse to read it (pip install --upgrade llmcourse)")
    if version < format:
        raise SealedError(path, f"is in the older {kind} format {version} (this llmcourse reads format {format})")
    if sorted(outer) != sorted(_FIELDS):
        raise SealedError(path, f"has the fields {sorted(outer)}, expected {list(_FIELDS)}")
    expected = outer["sha256"]
    if not isinstance(expected, str) or not _SHA256.fullmatch(expected):
        raise SealedError(path, f"has no valid sha256 (found {str(expected)[:20]!r})")
    try:
        actual = digest(outer["payload"])
    except RecursionError:
        raise SealedError(path, "has a payload nested too deeply to check") from None
    if actual != expected:
        raise SealedError(path, f"has been altered or truncated: its payload hashes to {actual[:12]}…, the "
                                f"file says {expected[:12]}…")
    return outer["payload"]


__all__ = ["SealedError", "SealedFormatError", "write_sealed", "read_sealed", "canonical_json", "digest",
           "check_json"]
