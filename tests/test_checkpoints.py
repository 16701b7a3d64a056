"""Checkpoints under faults: what is refused, and what a failed save leaves behind (nothing lost).

The round trip, truncation and architecture checks are in test_training.py; here: overwrite of
directories that are not checkpoints, failures in the middle of a save, altered or malformed
manifests (refused before any weight changes), bad arguments.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from llmcourse import checkpoints
from llmcourse.checkpoints import (MANIFEST, CheckpointError, is_checkpoint_directory, restore_checkpoint,
                                   save_checkpoint, verify_checkpoint)
from llmcourse.sealed import digest, read_sealed, write_sealed


class Small(nnx.Module):
    def __init__(self, width=4, *, rngs):
        self.layer = nnx.Linear(3, width, rngs=rngs)

    def __call__(self, x):
        return self.layer(x)


def weights(model):
    return [np.array(x) for x in jax.tree.leaves(nnx.state(model))]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def siblings(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


@pytest.fixture
def saved(tmp_path):
    model = Small(rngs=nnx.Rngs(0))
    return model, save_checkpoint(tmp_path / "ckpt", model, step=7)


def test_layout_and_sealed_manifest(saved):
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == sorted([MANIFEST, "state"])
    manifest = read_sealed(path / MANIFEST, checkpoints.KIND, checkpoints.FORMAT)
    assert manifest == verify_checkpoint(path)
    assert manifest["step"] == 7 and manifest["has_optimizer"] is False
    assert manifest["structure"]["['layer']['kernel']"] == [[3, 4], "float32"]
    fresh = Small(rngs=nnx.Rngs(1))
    assert restore_checkpoint(path, fresh) == 7
    assert_same(weights(fresh), weights(model))


# --------------------------------------------------------------------------- overwrite
def test_overwrite_replaces_a_checkpoint(saved, tmp_path):
    _, path = saved
    other = Small(rngs=nnx.Rngs(5))
    save_checkpoint(path, other, step=8, overwrite=True)
    fresh = Small(rngs=nnx.Rngs(1))
    assert restore_checkpoint(path, fresh) == 8
    assert_same(weights(fresh), weights(other))
    assert siblings(tmp_path) == ["ckpt"]  # no temporary or old directory left


def test_overwrite_of_an_empty_directory_is_allowed(tmp_path):
    (tmp_path / "empty").mkdir()
    save_checkpoint(tmp_path / "empty", Small(rngs=nnx.Rngs(0)), overwrite=True)
    verify_checkpoint(tmp_path / "empty")


def test_overwrite_of_a_directory_that_is_not_a_checkpoint_is_refused(tmp_path):
    work = tmp_path / "work"
    (work / "notes").mkdir(parents=True)
    (work / "thesis.tex").write_text("precious")
    (work / "state").mkdir()  # a name a checkpoint uses does not make it one
    before = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    with pytest.raises(CheckpointError, match=r"is not an llmcourse checkpoint \(it holds 3 entries, e.g. "
                                              r"\['notes', 'thesis.tex'\]\).*Choose another path"):
        save_checkpoint(work, Small(rngs=nnx.Rngs(0)), overwrite=True)
    assert sorted(str(p.relative_to(work)) for p in work.rglob("*")) == before
    assert (work / "thesis.tex").read_text() == "precious"
    assert siblings(tmp_path) == ["work"]


def test_overwrite_of_the_current_directory_is_refused(tmp_path, monkeypatch):
    (tmp_path / "code.py").write_text("print(1)")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="is not an llmcourse checkpoint"):
        save_checkpoint(".", Small(rngs=nnx.Rngs(0)), overwrite=True)
    assert siblings(tmp_path) == ["code.py"]


def test_a_checkpoint_plus_one_more_file_is_not_a_checkpoint(saved):
    _, path = saved
    (path / "README").write_text("mine")
    assert not is_checkpoint_directory(path)
    with pytest.raises(CheckpointError, match="not an llmcourse checkpoint"):
        save_checkpoint(path, Small(rngs=nnx.Rngs(0)), overwrite=True)
    assert (path / "README").read_text() == "mine"


def test_overwrite_of_a_file_or_link_is_refused(tmp_path, saved):
    _, path = saved
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        save_checkpoint(tmp_path / "file", Small(rngs=nnx.Rngs(0)), overwrite=True)
    (tmp_path / "link").symlink_to(path)
    with pytest.raises(CheckpointError, match="symbolic link"):
        save_checkpoint(tmp_path / "link", Small(rngs=nnx.Rngs(0)), overwrite=True)
    assert (tmp_path / "file").read_text() == "x" and verify_checkpoint(path)


# --------------------------------------------------------------------------- failures during a save
@pytest.mark.parametrize("failure", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failing_orbax_save_keeps_the_old_checkpoint(saved, tmp_path, monkeypatch, failure):
    model, path = saved
    import orbax.checkpoint as ocp

    def broken_save(self, directory, *args, **kwargs):
        (directory / "half-written").mkdir(parents=True)  # as if orbax had begun
        raise failure

    monkeypatch.setattr(ocp.StandardCheckpointer, "save", broken_save)
    with pytest.raises(type(failure)):
        save_checkpoint(path, Small(rngs=nnx.Rngs(9)), step=99, overwrite=True)
    monkeypatch.undo()
    assert siblings(tmp_path) == ["ckpt"]
    fresh = Small(rngs=nnx.Rngs(1))
    assert restore_checkpoint(path, fresh) == 7
    assert_same(weights(fresh), weights(model))


def test_failure_while_swapping_restores_the_old_checkpoint(saved, tmp_path, monkeypatch):
    model, path = saved
    real_rename = checkpoints.os.rename

    def rename(src, dst):
        if ".tmp-" in str(src):  # the new directory moving in: interrupted after the old one went aside
            raise KeyboardInterrupt
        return real_rename(src, dst)

    monkeypatch.setattr(checkpoints.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, Small(rngs=nnx.Rngs(9)), step=99, overwrite=True)
    monkeypatch.undo()
    assert siblings(tmp_path) == ["ckpt"]
    assert verify_checkpoint(path)["step"] == 7


def test_failure_writing_the_manifest_leaves_nothing(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints, "write_sealed", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path / "ckpt", Small(rngs=nnx.Rngs(0)))
    assert siblings(tmp_path) == []


@pytest.mark.parametrize("kwargs, error, match", [
    ({"step": -1}, CheckpointError, r"step must be an int >= 0, got -1"),
    ({"step": 1.5}, CheckpointError, r"step must be an int >= 0, got 1.5"),
    ({"step": True}, CheckpointError, r"step must be an int >= 0, got True"),
    ({"step": "3"}, CheckpointError, r"step must be an int >= 0"),
    ({"overwrite": "yes"}, TypeError, "overwrite must be True or False"),
    ({"optimizer": "adam"}, TypeError, "optimizer must be an nnx.Optimizer or None, got str"),
    ({"model": {"w": 1}}, TypeError, "model must be an nnx.Module, got dict"),
    ({"path": None}, TypeError, "path must be a non-empty str or path"),
])
def test_bad_arguments_are_refused_before_anything_is_written(saved, tmp_path, kwargs, error, match):
    model, path = saved
    arguments = {"path": path, "model": Small(rngs=nnx.Rngs(3)), "overwrite": True, **kwargs}
    with pytest.raises(error, match=match):
        save_checkpoint(**arguments)
    assert siblings(tmp_path) == ["ckpt"]
    fresh = Small(rngs=nnx.Rngs(1))
    restore_checkpoint(path, fresh)
    assert_same(weights(fresh), weights(model))


def test_numpy_step_is_accepted(tmp_path):
    path = save_checkpoint(tmp_path / "c", Small(rngs=nnx.Rngs(0)), step=np.int64(4))
    assert verify_checkpoint(path)["step"] == 4


# --------------------------------------------------------------------------- altered and malformed manifests
def rewrite_manifest(path, outer):
    (path / MANIFEST).write_text(json.dumps(outer), encoding="utf-8")


def outer_of(path):
    return json.loads((path / MANIFEST).read_text(encoding="utf-8"))


def test_altered_step_is_refused(saved):
    _, path = saved
    outer = outer_of(path)
    outer["payload"]["step"] = 8
    rewrite_manifest(path, outer)
    with pytest.raises(CheckpointError, match=r"the manifest is corrupt: it has been altered or truncated"):
        verify_checkpoint(path)


def test_altered_structure_is_refused(saved):
    _, path = saved
    outer = outer_of(path)
    outer["payload"]["structure"]["['layer']['kernel']"] = [[3, 5], "float32"]
    rewrite_manifest(path, outer)
    with pytest.raises(CheckpointError, match="altered or truncated"):
        restore_checkpoint(path, Small(rngs=nnx.Rngs(0)))


@pytest.mark.parametrize("change, match", [
    (lambda m: m.update(step=-3), r"its step is -3"),
    (lambda m: m.update(step="7"), r"its step is '7'"),
    (lambda m: m.pop("has_optimizer"), r"it has the fields"),
    (lambda m: m.update(has_optimizer="no"), r"its has_optimizer is 'no'"),
    (lambda m: m.update(structure="junk"), r"its structure is not a non-empty object"),
    (lambda m: m.update(structure={"['layer']['kernel']": [3, "float32"]}), r"its structure entry .* not \[shape, dtype\]"),
    (lambda m: m.update(files_sha256="abc"), r"its files_sha256 is not a SHA-256"),
])
def test_malformed_manifest_is_refused_before_weights_change(saved, change, match):
    """A manifest with a valid seal but nonsense inside (a bug, or a file made by hand)."""
    _, path = saved
    manifest = read_sealed(path / MANIFEST, checkpoints.KIND, checkpoints.FORMAT)
    change(manifest)
    write_sealed(path / MANIFEST, checkpoints.KIND, manifest, checkpoints.FORMAT)
    target = Small(rngs=nnx.Rngs(5))
    before = weights(target)
    with pytest.raises(CheckpointError, match=r"the manifest is corrupt: " + match):
        restore_checkpoint(path, target)
    assert_same(weights(target), before)


def test_manifest_payload_that_is_not_an_object(saved):
    _, path = saved
    write_sealed(path / MANIFEST, checkpoints.KIND, [1, 2], checkpoints.FORMAT)
    with pytest.raises(CheckpointError, match="its payload is a list, not an object"):
        verify_checkpoint(path)


@pytest.mark.parametrize("text", ["null", "[1, 2]", "[" * 50_000 + "]" * 50_000, ""])
def test_manifest_that_is_not_sealed_json(saved, text):
    _, path = saved
    (path / MANIFEST).write_text(text)
    with pytest.raises(CheckpointError, match="the manifest is corrupt"):
        verify_checkpoint(path)


def test_old_unsealed_manifest_is_refused(saved):
    _, path = saved
    manifest = read_sealed(path / MANIFEST, checkpoints.KIND, checkpoints.FORMAT)
    rewrite_manifest(path, {"format": 1, "sha256": manifest["files_sha256"], **manifest})
    with pytest.raises(CheckpointError, match="holds no kind"):
        verify_checkpoint(path)


def test_newer_manifest_asks_to_upgrade(saved):
    _, path = saved
    manifest = read_sealed(path / MANIFEST, checkpoints.KIND, checkpoints.FORMAT)
    write_sealed(path / MANIFEST, checkpoints.KIND, manifest, checkpoints.FORMAT + 1)
    with pytest.raises(CheckpointError, match="written by a newer llmcourse.*upgrade llmcourse") as info:
        verify_checkpoint(path)
    assert "corrupt" not in str(info.value)


def test_restore_checks_the_target_type(saved):
    _, path = saved
    with pytest.raises(TypeError, match="model must be an nnx.Module"):
        restore_checkpoint(path, {"layer": 1})


def test_optimizer_state_round_trip_keeps_its_step(tmp_path):
    model = Small(rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    grads = jax.tree.map(lambda x: x + 1.0, nnx.state(model, nnx.Param))
    optimizer.update(model, grads)
    path = save_checkpoint(tmp_path / "c", model, optimizer, step=1)
    fresh = Small(rngs=nnx.Rngs(1))
    fresh_optimizer = nnx.Optimizer(fresh, optax.adam(1e-2), wrt=nnx.Param)
    assert restore_checkpoint(path, fresh, fresh_optimizer) == 1
    assert_same(weights(fresh), weights(model))
    assert_same([np.array(x) for x in jax.tree.leaves(nnx.state(fresh_optimizer))],
                [np.array(x) for x in jax.tree.leaves(nnx.state(optimizer))])
    assert digest(verify_checkpoint(path)) == digest(read_sealed(path / MANIFEST, checkpoints.KIND, checkpoints.FORMAT))
