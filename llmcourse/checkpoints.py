"""Checkpoints of a model (and optionally its optimizer) with orbax, sealed by a content hash.

``save_checkpoint(path, model, optimizer=None, step=0)`` writes the state with orbax's
``StandardCheckpointer`` and then a manifest, ``llmcourse-manifest.json``, holding

* a SHA-256 over every file orbax wrote (relative path and bytes), and
* the structure: the path, shape and dtype of every array.

``restore_checkpoint`` recomputes the hash before orbax reads anything, so a truncated or altered
checkpoint is refused, never loaded; then it compares the structure with the target, so restoring
into a different architecture is a clear error naming the first difference.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np
from flax import nnx

MANIFEST = "llmcourse-manifest.json"
_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, altered, truncated or for another architecture."""


def _state_of(model, optimizer):
    target = model if optimizer is None else (model, optimizer)
    return nnx.to_pure_dict(nnx.state(target))


def _structure(tree) -> dict[str, list]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): [list(np.shape(x)), str(np.asarray(x).dtype) if not hasattr(x, "dtype") else str(x.dtype)]
            for path, x in flat}


def _content_hash(directory: Path) -> str:
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


def save_checkpoint(path, model, optimizer=None, step: int = 0, overwrite: bool = False) -> Path:
    """Save ``model`` (and ``optimizer``) to the directory ``path``; refuses to overwrite unless asked."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    if path.exists():
        if not overwrite:
            raise CheckpointError(f"{path} exists already; pass overwrite=True to replace it")
        shutil.rmtree(path)
    state = _state_of(model, optimizer)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path / "state", state)
    checkpointer.wait_until_finished()
    manifest = {
        "format": _FORMAT,
        "step": int(step),
        "has_optimizer": optimizer is not None,
        "structure": _structure(state),
        "sha256": _content_hash(path),
    }
    with open(path / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    return path


def verify_checkpoint(path) -> dict:
    """Return the manifest if the files match their hash; raise ``CheckpointError`` otherwise."""
    path = Path(path).absolute()
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{path} is not an llmcourse checkpoint (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = manifest["sha256"]
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"{manifest_path} is corrupt ({err}); refusing to load the checkpoint") from None
    if manifest.get("format") != _FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {manifest.get('format')!r}")
    actual = _content_hash(path)
    if actual != expected:
        raise CheckpointError(
            f"{path} has been altered or truncated: its files hash to {actual[:12]}…, the manifest "
            f"says {expected[:12]}…. Refusing to load it; save the checkpoint again."
        )
    return manifest


def restore_checkpoint(path, model, optimizer=None) -> int:
    """Load a checkpoint into ``model`` (and ``optimizer``) in place; returns the saved step."""
    import orbax.checkpoint as ocp

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
    restored = ocp.StandardCheckpointer().restore(Path(path).absolute() / "state", abstract)
    objects = model if optimizer is None else (model, optimizer)
    state = nnx.state(objects)
    nnx.replace_by_pure_dict(state, restored)
    nnx.update(objects, state)
    return int(manifest["step"])
