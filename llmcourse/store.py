"""The model store: trained models kept on disk, keyed by a hash of what determines them.

A chapter that trains a model worth keeping asks the store instead of training directly::

    stored = load_or_train(
        "ch07-lstm",
        build=lambda: CharRNN(vocab, cell="lstm", ..., rngs=nnx.Rngs(cfg.seed)),  # a fresh model
        train=lambda model: (history, {"bits_per_char": 2.1}),   # trains it in place
        settings={"cell": "lstm", **cfg.rnn.as_dict()},           # what else determines it
        data_digest=array_digest(train_ids), seed=cfg.seed, version=1)
    stored.model, stored.history, stored.results, stored.from_store

The first call builds the model, trains it and keeps it; later calls — in the next chapter, the
next kernel, the next day — build the skeleton and restore the stored weights into it, printing one
line that says so. Nothing is retrained silently and nothing stale is loaded, because the entry's
key is a SHA-256 (``llmcourse.sealed.digest``) over everything that determines the trained model:

    name, the model's module and class, ``settings``, ``data_digest``, ``seed``, ``version``
    (the training code's version: bump it when the training code changes), the devices it is
    trained on (``devices()``: backend and count), and the store's and the checkpoint's file formats.

Layout, under ``llmcourse.data.cache_dir()`` (``$LLMCOURSE_CACHE`` moves it)::

    models/<name>-<key[:16]>/
        checkpoint/        the weights: llmcourse.checkpoints (orbax, sealed manifest, content hash)
        entry.json         sealed (llmcourse.sealed): key, key material, training history, results,
                           created, llmcourse version, training seconds, the checkpoint's hash
    models/.<name>-<key[:16]>.lock

An entry is written into a temporary sibling directory and renamed into place, so it is complete or
absent. An entry that is corrupt, altered or half-written is reported in one line, removed and
trained again. Two processes asking for the same entry at once take turns (a file lock per entry):
the second loads what the first trained. ``LLMCOURSE_RETRAIN=1`` trains again and replaces entries.

``python -m llmcourse.store list`` shows the entries, ``python -m llmcourse.store clear [NAME ...]``
removes them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from llmcourse.data import CACHE_ENV_VAR, DataError, cache_dir
from llmcourse.sealed import SealedError, SealedFormatError, check_json, digest, read_sealed, write_sealed

if TYPE_CHECKING:
    from flax import nnx

    from llmcourse.training import History

RETRAIN_ENV_VAR = "LLMCOURSE_RETRAIN"
ENTRY_FILE = "entry.json"
CHECKPOINT = "checkpoint"
KIND = "llmcourse model store entry"
FORMAT = 1
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ENTRY_DIR = re.compile(r"(?P<name>[a-z0-9][a-z0-9._-]{0,63})-(?P<key>[0-9a-f]{16})")
_FIELDS = ("key", "key_material", "description", "history", "results", "created", "llmcourse_version",
           "train_seconds", "checkpoint_sha256")


class StoreError(ValueError):
    """A request the store cannot serve: bad arguments, an entry of a newer llmcourse, a store
    directory that cannot be written."""


class _Unusable(Exception):
    """An entry that must be trained again (corrupt, altered, half-written); internal."""


@dataclass
class Stored:
    """What ``load_or_train`` hands back.

    ``model`` is trained (restored from the store or just trained) and in eval mode; ``history``
    the training ``History`` (None if ``train`` returned none); ``results`` the small JSON dict
    ``train`` returned; ``from_store`` whether it was loaded rather than trained in this call;
    ``key`` the entry's full key; ``path`` its directory; ``created`` when it was trained (ISO 8601,
    UTC); ``train_seconds`` how long training took.
    """

    model: Any
    history: "History | None"
    results: dict
    from_store: bool
    key: str
    path: Path
    created: str
    train_seconds: float


# --------------------------------------------------------------------------- keys
def store_dir() -> Path:
    """The store's directory, ``cache_dir("models")`` (created if needed)."""
    try:
        return cache_dir("models")
    except DataError as err:
        raise StoreError(f"the model store: {err}") from None


def array_digest(*arrays) -> str:
    """SHA-256 over arrays' dtypes, shapes and bytes — a ``data_digest`` for training data given as
    arrays (e.g. the token ids a model is trained on)."""
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype == object:
            raise TypeError("array_digest takes numeric arrays, not object arrays")
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _model_class(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def devices() -> str:
    """The devices training runs on, e.g. ``"cpu x1"``: part of every key, because the same
    training on another backend or number of devices (data parallel) gives other numbers."""
    import jax

    return f"{jax.default_backend()} x{jax.device_count()}"


def key_material(name: str, model_class: type, settings: dict, data_digest: str, seed: int, version) -> dict:
    """The dict the key hashes (validated): everything that determines a trained model."""
    from llmcourse.checkpoints import FORMAT as CHECKPOINT_FORMAT

    _check_fields(name, settings, data_digest, seed, version)
    if not isinstance(model_class, type):
        raise TypeError(f"model_class must be a class, got {model_class!r}")
    return {"name": name, "model_class": _model_class(model_class), "settings": settings,
            "data_digest": data_digest, "seed": seed, "version": version, "devices": devices(),
            "formats": {"entry": FORMAT, "checkpoint": CHECKPOINT_FORMAT}}


def entry_key(name: str, model_class: type, settings: dict, data_digest: str, seed: int, version) -> str:
    """The entry's key: ``digest(key_material(...))``, 64 hex digits."""
    return digest(key_material(name, model_class, settings, data_digest, seed, version))


def _check_fields(name, settings, data_digest, seed, version) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StoreError(f"name must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter "
                         f"or digit (e.g. 'ch07-lstm'), got {name!r}")
    if not isinstance(settings, dict):
        raise StoreError(f"settings must be a dict of JSON values (e.g. cfg.rnn.as_dict()), got "
                         f"{type(settings).__name__}")
    try:
        check_json(settings, "settings")
    except TypeError as err:
        raise StoreError(str(err)) from None
    if not isinstance(data_digest, str) or not data_digest:
        raise StoreError(f"data_digest must be a non-empty str (e.g. array_digest(token_ids)), got {data_digest!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise StoreError(f"seed must be an int >= 0, got {seed!r}")
    if isinstance(version, bool) or not (isinstance(version, int) and version >= 0
                                         or isinstance(version, str) and version):
        raise StoreError(f"version must be an int >= 0 or a non-empty str, got {version!r}")


# --------------------------------------------------------------------------- helpers
def _retrain_requested() -> bool:
    value = os.environ.get(RETRAIN_ENV_VAR, "").strip()
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise StoreError(f"${RETRAIN_ENV_VAR} must be 1 (train again and replace stored models) or 0 / unset, "
                     f"got {value!r}")


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _local_time(created: str) -> str:
    return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")


def _say(line: str, *, warning: bool = False) -> None:
    """One line, always (also under $LLMCOURSE_QUIET: the book shows where its models came from)."""
    line = " ".join(line.split())  # one line, whatever the messages inside it hold
    print(line, file=sys.stderr if warning else sys.stdout, flush=True)


def _lock(entry: Path, name: str):
    from filelock import FileLock, Timeout

    lock = FileLock(str(entry.with_name(f".{entry.name}.lock")))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            _say(f'Waiting for another process that is training or loading "{name}" ({entry.name}) ...')
            lock.acquire()
    except OSError as err:
        raise StoreError(f"{entry.parent}: cannot lock an entry of the model store ({err.strerror or err}); set "
                         f"${CACHE_ENV_VAR} to a writable directory to move llmcourse's cache") from None
    return lock


def _remove(path: Path) -> None:
    """Delete an entry (or a temporary one) — only if it is inside the store."""
    root = store_dir().resolve()
    if path.parent.resolve() != root or not (_ENTRY_DIR.fullmatch(path.name) or path.name.startswith(".")):
        raise StoreError(f"{path} is not an entry of the model store at {root}; refusing to delete it")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _remove_leftovers(entry: Path) -> None:
    """Temporary and set-aside directories of a process that was killed while writing ``entry``
    (called with the entry's lock held, so nobody is writing them now)."""
    for pattern in (f".{entry.name}.tmp-*", f".{entry.name}.old-*"):
        for leftover in entry.parent.glob(pattern):
            _remove(leftover)


# --------------------------------------------------------------------------- reading an entry
def _read_entry(entry: Path) -> dict:
    """The entry's sealed payload, checked field by field (raises SealedError or _Unusable)."""
    if entry.is_symlink() or not entry.is_dir():
        raise _Unusable("it is not a directory")
    payload = read_sealed(entry / ENTRY_FILE, KIND, FORMAT)
    if not isinstance(payload, dict) or sorted(payload) != sorted(_FIELDS):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise _Unusable(f"{ENTRY_FILE} has the fields {found}, expected {list(_FIELDS)}")
    if not isinstance(payload["results"], dict):
        raise _Unusable(f"{ENTRY_FILE}'s results are not an object")
    if not isinstance(payload["checkpoint_sha256"], str) or not isinstance(payload["created"], str):
        raise _Unusable(f"{ENTRY_FILE} has no valid checkpoint hash or creation time")
    try:
        datetime.fromisoformat(payload["created"])
    except ValueError:
        raise _Unusable(f"{ENTRY_FILE}'s creation time {payload['created']!r} is not a time") from None
    seconds = payload["train_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise _Unusable(f"{ENTRY_FILE}'s train_seconds {seconds!r} is not a number >= 0")
    return payload


def _load(entry: Path, key: str, material: dict, model) -> Stored:
    """Restore the entry into ``model`` after checking everything (raises _Unusable / SealedError /
    CheckpointError; the model is unchanged unless it succeeds)."""
    from llmcourse.checkpoints import restore_checkpoint, verify_checkpoint
    from llmcourse.training import History

    payload = _read_entry(entry)
    if payload["key"] != key or digest(payload["key_material"]) != key:
        raise _Unusable(f"{ENTRY_FILE} is for another key ({str(payload['key'])[:12]}…)")
    if digest(material) != key:  # cannot happen unless the key function changed: then never load
        raise _Unusable("the key material does not hash to the key")
    try:
        history = None if payload["history"] is None else History.from_dict(payload["history"])
    except ValueError as err:
        raise _Unusable(f"{ENTRY_FILE}'s history is malformed ({err})") from None
    manifest = verify_checkpoint(entry / CHECKPOINT)
    if manifest["files_sha256"] != payload["checkpoint_sha256"]:
        raise _Unusable("its checkpoint is not the one the entry was saved with")
    restore_checkpoint(entry / CHECKPOINT, model)
    model.eval()
    return Stored(model=model, history=history, results=payload["results"], from_store=True, key=key,
                  path=entry, created=payload["created"], train_seconds=float(payload["train_seconds"]))


# --------------------------------------------------------------------------- training and saving
def _train_and_save(entry: Path, key: str, material: dict, model, train, description) -> Stored:
    from llmcourse.config import VERSION
    from llmcourse.checkpoints import replace_directory, save_checkpoint, verify_checkpoint
    from llmcourse.training import History

    start = time.perf_counter()
    returned = train(model)
    seconds = time.perf_counter() - start
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise StoreError(f"train(model) must return (history, results), got {type(returned).__name__}")
    history, results = returned
    if history is not None and not isinstance(history, History):
        raise StoreError(f"train(model) must return a llmcourse.training.History or None as its history, got "
                         f"{type(history).__name__}")
    if not isinstance(results, dict):
        raise StoreError(f"train(model) must return a dict of JSON values as its results, got {type(results).__name__}")
    try:
        check_json(results, "results")
    except TypeError as err:
        raise StoreError(f"train(model) returned {err}") from None
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tmp = entry.with_name(f".{entry.name}.tmp-{secrets.token_hex(6)}")
    try:
        tmp.mkdir()
        step = history.steps[-1] if history is not None and history.steps else 0
        checkpoint = save_checkpoint(tmp / CHECKPOINT, model, step=step)
        payload = {"key": key, "key_material": material, "description": description,
                   "history": None if history is None else history.to_dict(), "results": results,
                   "created": created, "llmcourse_version": VERSION, "train_seconds": seconds,
                   "checkpoint_sha256": verify_checkpoint(checkpoint)["files_sha256"]}
        write_sealed(tmp / ENTRY_FILE, KIND, payload, FORMAT)
        replace_directory(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.eval()
    return Stored(model=model, history=history, results=results, from_store=False, key=key, path=entry,
                  created=created, train_seconds=seconds)


# --------------------------------------------------------------------------- the one entry point
def load_or_train(name: str, *, build: Callable[[], "nnx.Module"],
                  train: Callable[["nnx.Module"], "tuple[History | None, dict]"], settings: dict, data_digest: str,
                  seed: int, version, description: str | None = None) -> Stored:
    """The stored model for this request, trained (and stored) first if the store lacks it.

    ``build()`` returns a freshly initialised ``nnx.Module`` — the skeleton stored weights are
    restored into, and what gets trained when the store lacks the entry. ``train(model)`` trains it
    in place and returns ``(history, results)``: a ``History`` (or None) and a small dict of JSON
    values. ``settings``: a JSON dict of everything else that determines the trained model (its
    settings and the preset fields it reads). See the module docstring for the key and layout.
    """
    from flax import nnx

    _check_fields(name, settings, data_digest, seed, version)
    if not callable(build) or not callable(train):
        raise StoreError("build and train must be functions: build() -> nnx.Module, train(model) -> (history, results)")
    if description is not None and not isinstance(description, str):
        raise StoreError(f"description must be a str or None, got {type(description).__name__}")
    retrain = _retrain_requested()
    model = build()
    if not isinstance(model, nnx.Module):
        raise StoreError(f"build() must return an nnx.Module, got {type(model).__name__}")
    material = key_material(name, type(model), settings, data_digest, seed, version)
    key = digest(material)
    entry = store_dir() / f"{name}-{key[:16]}"

    lock = _lock(entry, name)
    try:
        _remove_leftovers(entry)
        if entry.exists() or entry.is_symlink():
            if retrain:
                pass  # trained again below, and swapped in only when complete
            else:
                try:
                    stored = _load(entry, key, material, model)
                except SealedFormatError as err:
                    raise StoreError(f"{err}; or remove the entry with `python -m llmcourse.store clear {name}`") from None
                except (_Unusable, SealedError, ValueError) as err:  # CheckpointError is a ValueError
                    problem = err.problem if isinstance(err, SealedError) else str(err)
                    _say(f'Warning: the model store\'s entry for "{name}" is unusable ({problem}); removed it, '
                         f"training again. [{entry}]", warning=True)
                    _remove(entry)
                else:
                    _say(f'Loaded "{name}" from the model store (trained {_local_time(stored.created)}, '
                         f"{_seconds(stored.train_seconds)}; key {key[:8]})")
                    return stored
        stored = _train_and_save(entry, key, material, model, train, description)
    finally:
        lock.release()
    _say(f'Trained "{name}" in {_seconds(stored.train_seconds)} and kept it in the model store (key {key[:8]}; '
         "python -m llmcourse.store list shows it)")
    return stored


# --------------------------------------------------------------------------- command line
def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _age(created: str) -> str:
    seconds = max(0.0, (datetime.now(timezone.utc) - datetime.fromisoformat(created)).total_seconds())
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds / 86400:.0f} days"


def entries() -> list[dict]:
    """One dict per entry directory in the store: name, key (prefix for unreadable ones), path,
    size, and — when its entry.json is intact — created, model_class, seed, version, preset,
    description; ``problem`` says why one cannot be read."""
    rows = []
    for path in sorted(store_dir().iterdir()):
        match = _ENTRY_DIR.fullmatch(path.name)
        if not match:
            continue
        row = {"name": match["name"], "key": match["key"], "path": path, "size": _size(path), "problem": None}
        try:
            payload = _read_entry(path)
            material = payload["key_material"]
            row.update(key=payload["key"], created=payload["created"],
                       model_class=str(material.get("model_class", "?")).rsplit(".", 1)[-1],
                       seed=material.get("seed"), version=material.get("version"),
                       preset=(material.get("settings") or {}).get("preset"), description=payload["description"])
        except (SealedError, _Unusable, AttributeError, TypeError) as err:
            row["problem"] = err.problem if isinstance(err, SealedError) else str(err) or type(err).__name__
        rows.append(row)
    return rows


def _list(args) -> int:
    rows = entries()
    root = store_dir()
    if not rows:
        print(f"The model store at {root} is empty.")
        return 0
    table = [("NAME", "KEY", "MODEL", "PRESET", "SEED", "VERSION", "SIZE", "AGE")]
    for r in rows:
        if r["problem"]:
            table.append((r["name"], r["key"][:12], f"unreadable: {r['problem']}", "", "", "", _human_size(r["size"]), ""))
        else:
            table.append((r["name"], r["key"][:12], r["model_class"], str(r["preset"] or "-"), str(r["seed"]),
                          str(r["version"]), _human_size(r["size"]), _age(r["created"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    print(f"Model store at {root}: {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}, "
          f"{_human_size(sum(r['size'] for r in rows))}")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return 0


def _clear(args) -> int:
    from filelock import FileLock, Timeout

    rows = entries()
    if args.names:
        known = sorted({r["name"] for r in rows})
        unknown = [n for n in args.names if n not in known and not any(r["path"].name == n for r in rows)]
        if unknown:
            print(f"error: no entry named {', '.join(map(repr, unknown))} in the model store; its entries are: "
                  f"{', '.join(known) if known else 'none (it is empty)'}", file=sys.stderr)
            return 2
        rows = [r for r in rows if r["name"] in args.names or r["path"].name in args.names]
    if not rows:
        print(f"The model store at {store_dir()} is empty; nothing to remove.")
        return 0
    busy = 0
    for r in rows:
        lock = FileLock(str(r["path"].with_name(f".{r['path'].name}.lock")))
        try:
            lock.acquire(timeout=5)
        except Timeout:
            print(f"Skipped {r['path'].name}: another process is training or loading it; try again later.")
            busy += 1
            continue
        try:
            _remove(r["path"])
            _remove_leftovers(r["path"])
        finally:
            lock.release()
        print(f"Removed {r['path'].name} ({_human_size(r['size'])})")
    return 1 if busy else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmcourse.store",
        description="The model store: trained models kept by llmcourse under "
                    f"${CACHE_ENV_VAR}/models (default ~/.cache/llmcourse/models).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,clear}")
    commands.add_parser("list", help="one row per stored model: name, key, model class, preset, seed, version, "
                                     "size, age").set_defaults(run=_list)
    clear = commands.add_parser("clear", help="remove stored models: those named, or all")
    clear.add_argument("names", nargs="*", metavar="NAME",
                       help="a model's name (e.g. ch07-lstm) or an entry's directory name; none: every entry")
    clear.set_defaults(run=_clear)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
