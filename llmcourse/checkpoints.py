"""Checkpoints of a model (and optionally its optimizer) with orbax, sealed by a content hash.

A checkpoint is a directory holding exactly two things::

    state/                     the arrays, written by orbax's StandardCheckpointer
    llmcourse-manifest.json    a sealed JSON file (llmcourse.sealed) of kind "llmcourse checkpoint"

The manifest's payload is ``{"step", "has_optimizer", "structure", "files_sha256"}``: the training
step, whether optimizer state was saved, the path, shape and dtype of every array, and a SHA-256
over every file in ``state/`` (relative path and bytes). The seal covers these fields too, so an
edited step is refused like an edited weight.

``restore_checkpoint`` checks, in this order and before any array enters the model: the manifest's
seal, the manifest's fields, the files' hash, the optimizer flag, the structure against the target
(a different architecture is a clear error naming the first difference). Only then does orbax read.

``save_checkpoint`` never loses data:

* every argument is checked before anything is written;
* with ``overwrite=True`` it replaces only a directory that *is* a checkpoint (nothing in it but
  ``state/`` and the manifest) or is empty — never ``"."`` or a directory of other files;
* it writes a temporary sibling directory and swaps it in (old aside, new in, old deleted), so a
  failing orbax save, a full disk or Ctrl-C leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from llmcourse.sealed import SealedError, SealedFormatError, read_sealed, write_sealed

MANIFEST = "llmcourse-manifest.json"
STATE = "state"
KIND = "llmcourse checkpoint"
FORMAT = 2  # format 1 was an unsealed manifest with the hash inside it
_FIELDS = ("step", "has_optimizer", "structure", "files_sha256")


class CheckpointError(ValueError):
    """A checkpoint that is missing, altered, truncated or for another architecture, or a save that
    would destroy something that is not a checkpoint."""


# --------------------------------------------------------------------------- helpers
def _state_of(model, optimizer):
    target = model if optimizer is None else (model, optimizer)
    return nnx.to_pure_dict(nnx.state(target))


def _structure(tree) -> dict[str, list]:
    """``{"['layer']['kernel']": [[8, 16], "float32"], ...}`` — what the checkpoint must fit."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): [list(np.shape(x)), str(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype)]
            for path, x in flat}


def _content_hash(directory: Path) -> str:
    """SHA-256 over every file below ``directory`` but the manifest: relative path, then bytes."""
    h = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    for p in files:
        h.update(str(p.relative_to(directory)).encode())
        h.update(b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _check_objects(model, optimizer) -> None:
    if not isinstance(model, nnx.Module):
        raise TypeError(f"model must be an nnx.Module, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, nnx.Optimizer):
        raise TypeError(f"optimizer must be an nnx.Optimizer or None, got {type(optimizer).__name__}")


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"path must be a non-empty str or path, got {path!r}")
    return Path(path).absolute()


def is_checkpoint_directory(path) -> bool:
    """True for a directory that holds a manifest and nothing but ``state/`` and the manifest —
    the only kind of non-empty directory ``save_checkpoint(..., overwrite=True)`` replaces."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    names = {p.name for p in path.iterdir()}
    return MANIFEST in names and names <= {MANIFEST, STATE}


def _check_target(path: Path, overwrite: bool) -> None:
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise CheckpointError(f"{path} exists already; pass overwrite=True to replace it")
    if path.is_symlink():
        raise CheckpointError(f"{path} is a symbolic link; refusing to replace it, give the directory it points to")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a checkpoint directory; refusing to replace it")
    names = sorted(p.name for p in path.iterdir())
    if names and not is_checkpoint_directory(path):
        others = [n for n in names if n not in (MANIFEST, STATE)]
        raise CheckpointError(
            f"{path} is not an llmcourse checkpoint (it holds {len(names)} entries, e.g. {others[:3]}); "
            f"overwrite=True replaces only a checkpoint directory (just {STATE}/ and {MANIFEST}) or an empty "
            "one. Choose another path, or remove the directory yourself")


def replace_directory(new, path) -> None:
    """Put the finished directory ``new`` at ``path``: the old one aside, the new one in, the old
    one deleted. If anything fails (Ctrl-C included) before the new one is in, the old one is back.
    ``new`` must be a sibling of ``path`` (same file system, so each rename is atomic). The model
    store replaces its entries with this too."""
    new, path = Path(new), Path(path)
    if not (path.exists() or path.is_symlink()):
        os.rename(new, path)
        return
    aside = path.with_name(f".{path.name}.old-{secrets.token_hex(6)}")
    try:
        os.rename(path, aside)
        os.rename(new, path)
    except BaseException:
        if aside.exists() and not path.exists():
            os.rename(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


# --------------------------------------------------------------------------- save
def save_checkpoint(path, model, optimizer=None, step: int = 0, overwrite: bool = False) -> Path:
    """Save ``model`` (and ``optimizer``) to the directory ``path``; returns its absolute path.

    An existing ``path`` is refused unless ``overwrite=True``, and even then replaced only if it is
    a checkpoint or empty. The new checkpoint is written beside it and swapped in, so a failure at
    any point leaves the previous one intact.
    """
    import orbax.checkpoint as ocp

    path = _check_path(path)
    _check_objects(model, optimizer)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise CheckpointError(f"step must be an int >= 0, got {step!r}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    _check_target(path, overwrite)
    state = _state_of(model, optimizer)
    structure = _structure(state)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    try:
        tmp.mkdir()
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(tmp / STATE, state)
            checkpointer.wait_until_finished()
        manifest = {"step": int(step), "has_optimizer": optimizer is not None, "structure": structure,
                    "files_sha256": _content_hash(tmp)}
        write_sealed(tmp / MANIFEST, KIND, manifest, FORMAT)
        _check_target(path, overwrite)  # again: something may have appeared there while orbax wrote
        replace_directory(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# --------------------------------------------------------------------------- verify and restore
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _manifest_problem(m) -> str | None:
    """What is wrong with a manifest payload whose seal is intact (a bug, or a hand-made file)."""
    if not isinstance(m, dict):
        return f"its payload is a {type(m).__name__}, not an object"
    if sorted(m) != sorted(_FIELDS):
        return f"it has the fields {sorted(m)}, expected {list(_FIELDS)}"
    if isinstance(m["step"], bool) or not isinstance(m["step"], int) or m["step"] < 0:
        return f"its step is {m['step']!r}, not an int >= 0"
    if not isinstance(m["has_optimizer"], bool):
        return f"its has_optimizer is {m['has_optimizer']!r}, not true or false"
    if not isinstance(m["files_sha256"], str) or not _SHA256.fullmatch(m["files_sha256"]):
        return "its files_sha256 is not a SHA-256"
    if not isinstance(m["structure"], dict) or not m["structure"]:
        return "its structure is not a non-empty object"
    for name, entry in m["structure"].items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in entry[0])
                and isinstance(entry[1], str)):
            return f"its structure entry {name} is {entry!r}, not [shape, dtype]"
    return None


def verify_checkpoint(path) -> dict:
    """Return the manifest (step, has_optimizer, structure, files_sha256) if the checkpoint is
    intact; raise ``CheckpointError`` saying what is wrong otherwise. Reads no array."""
    path = _check_path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{path} is not an llmcourse checkpoint (no {MANIFEST}); save_checkpoint writes one")
    try:
        manifest = read_sealed(manifest_path, KIND, FORMAT)
    except SealedFormatError as err:
        raise CheckpointError(str(err)) from None
    except SealedError as err:
        raise CheckpointError(f"{path}: the manifest is corrupt: it {err.problem}; refusing to load the checkpoint, "
                              "save it again") from None
    problem = _manifest_problem(manifest)
    if problem:
        raise CheckpointError(f"{path}: the manifest is corrupt: {problem}; refusing to load the checkpoint, "
                              "save it again")
    expected = manifest["files_sha256"]
    actual = _content_hash(path)
    if actual != expected:
        raise CheckpointError(
            f"{path} has been altered or truncated: its files hash to {actual[:12]}…, the manifest "
            f"says {expected[:12]}…; refusing to load it, save the checkpoint again"
        )
    return manifest


def restore_checkpoint(path, model, optimizer=None) -> int:
    """Load a checkpoint into ``model`` (and ``optimizer``) in place; returns the saved step.

    Everything is checked before orbax reads (see the module docstring); if anything is wrong the
    model is left as it was.
    """
    import orbax.checkpoint as ocp

    _check_objects(model, optimizer)
    manifest = verify_checkpoint(path)
    if manifest["has_optimizer"] != (optimizer is not None):
        has = "has" if manifest["has_optimizer"] else "has no"
        raise CheckpointError(f"the checkpoint {has} optimizer state, but optimizer={'given' if optimizer is not None else 'None'}")
    target = _state_of(model, optimizer)
    want, have = _structure(target), manifest["structure"]
    if want != have:
        missing = sorted(set(have) - set(want))
        extra = sorted(set(want) - set(have))
        differ = [k for k in sorted(set(want) & set(have)) if want[k] != have[k]]
        detail = (
            f"{differ[0]} is {have[differ[0]][0]} {have[differ[0]][1]} in the checkpoint but "
            f"{want[differ[0]][0]} {want[differ[0]][1]} in the model" if differ else
            f"the checkpoint has {missing[:3]} that the model lacks" if missing else
            f"the model has {extra[:3]} that the checkpoint lacks"
        )
        raise CheckpointError(f"checkpoint does not fit this architecture: {detail}")
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), target)
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(_check_path(path) / STATE, abstract)
    objects = model if optimizer is None else (model, optimizer)
    state = nnx.state(objects)
    nnx.replace_by_pure_dict(state, restored)
    nnx.update(objects, state)
    return int(manifest["step"])
