"""The training engine: determinism, NaN stop, checkpoints, multi-device equivalence, bad configs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from llmcourse.checkpoints import CheckpointError, restore_checkpoint, save_checkpoint, verify_checkpoint
from llmcourse.training import ArrayData, ConfigError, History, TrainConfig, Trainer, TrainingError, train


class TinyNet(nnx.Module):
    def __init__(self, d_in=8, hidden=16, d_out=3, *, rngs):
        self.hidden = nnx.Linear(d_in, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, d_out, rngs=rngs)

    def __call__(self, x):  # (batch, d_in) -> (batch, d_out)
        return self.out(jax.nn.tanh(self.hidden(x)))


def loss_fn(model, batch):
    logits = model(batch["x"])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
    return loss, {"accuracy": (logits.argmax(-1) == batch["y"]).mean()}


def make_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 1).astype(np.int32)
    return {"x": x, "y": y}


def config(**kw):
    base = dict(steps=60, batch_size=32, learning_rate=1e-2, progress=False, log_every=7)
    return TrainConfig(**{**base, **kw})


def test_loss_falls_and_history_is_complete():
    model = TinyNet(rngs=nnx.Rngs(0))
    h = train(model, loss_fn, make_data(), config(eval_every=20), eval_data=make_data(64, seed=1))
    assert isinstance(h, History)
    assert len(h.losses) == 60 and h.steps == list(range(1, 61))
    assert h.losses[-10:].mean() < 0.6 * h.losses[:5].mean()
    assert h.eval_steps == [20, 40, 60] and h.final("accuracy") > 0.7
    assert "grad_norm" in h.train


def test_trained_parameters_are_written_back_to_the_model():
    model = TinyNet(rngs=nnx.Rngs(0))
    before = np.array(model.out.kernel[...])
    train(model, loss_fn, make_data(), config(steps=5))
    assert not np.allclose(before, model.out.kernel[...])


def test_same_seed_same_losses():
    runs = []
    for _ in range(2):
        model = TinyNet(rngs=nnx.Rngs(42))
        runs.append(train(model, loss_fn, make_data(), config(seed=3)).losses)
    np.testing.assert_array_equal(runs[0], runs[1])
    other = train(TinyNet(rngs=nnx.Rngs(42)), loss_fn, make_data(), config(seed=4)).losses
    assert not np.array_equal(runs[0], other)  # the seed really changes the batches


def test_nan_stops_training_with_the_step():
    def exploding(model, batch):
        loss, aux = loss_fn(model, batch)
        return loss * jnp.where(jnp.sum(batch["x"]) > -1e9, jnp.inf, 1.0), aux

    with pytest.raises(TrainingError, match=r"non-finite loss.* at step 1 .*smaller learning_rate"):
        train(TinyNet(rngs=nnx.Rngs(0)), exploding, make_data(), config())


def test_nan_detected_at_the_exact_later_step():
    calls = {"n": 0}

    class Poison:  # a data source whose 10th batch contains a NaN
        def next_batch(self, batch_size):
            calls["n"] += 1
            batch = {k: v[:batch_size].copy() for k, v in make_data().items()}
            if calls["n"] == 10:
                batch["x"][0, 0] = np.nan
            return batch

    with pytest.raises(TrainingError, match="at step 10 "):
        train(TinyNet(rngs=nnx.Rngs(0)), loss_fn, Poison(), config(log_every=25))


@pytest.mark.parametrize("kw, match", [
    (dict(learning_rate=-0.1), "learning_rate must be a positive"),
    (dict(learning_rate=float("nan")), "learning_rate must be a positive"),
    (dict(steps=0), "steps must be a positive integer"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(optimizer="lbfgs"), "unknown optimizer 'lbfgs'; choose one of adam, adamw, sgd"),
    (dict(schedule="step"), "unknown schedule"),
    (dict(warmup_steps=60), "warmup_steps must be in"),
    (dict(clip_norm=0.0), "clip_norm must be > 0 or None"),
    (dict(eval_every=-1), "eval_every must be >= 0"),
])
def test_bad_configs_are_clear_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        config(**kw)


def test_batch_larger_than_data_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"batch_size=512 is larger than the training data \(256 examples\)"):
        train(TinyNet(rngs=nnx.Rngs(0)), loss_fn, make_data(256), config(batch_size=512))


def test_mismatched_data_arrays_are_a_clear_error():
    with pytest.raises(ConfigError, match="same first"):
        ArrayData({"x": np.zeros((10, 2)), "y": np.zeros(9)})
    with pytest.raises(ConfigError, match="zero examples"):
        ArrayData({"x": np.zeros((0, 2))})


def test_array_data_visits_every_example_once_per_epoch():
    d = ArrayData({"i": np.arange(10)}, seed=0)
    seen = np.concatenate([d.next_batch(5)["i"] for _ in range(2)])
    assert sorted(seen) == list(range(10))


def test_schedules_warm_up_and_decay():
    c = config(steps=100, warmup_steps=10, schedule="cosine", learning_rate=1.0)
    lr = c.learning_rate_schedule()
    assert float(lr(0)) == 0.0 and abs(float(lr(10)) - 1.0) < 1e-6 and float(lr(100)) < 1e-3
    lin = config(steps=100, schedule="linear", learning_rate=1.0).learning_rate_schedule()
    assert abs(float(lin(50)) - 0.5) < 1e-6


def test_clipping_bounds_the_update():
    """With clip_norm, one SGD step moves parameters by at most lr * clip_norm."""
    model = TinyNet(rngs=nnx.Rngs(0))
    before = jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(model, nnx.Param)))

    def huge(model, batch):
        loss, aux = loss_fn(model, batch)
        return 1e6 * loss, aux

    train(model, huge, make_data(), config(steps=1, optimizer="sgd", momentum=0.0, learning_rate=0.1, clip_norm=1.0))
    after = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    moved = np.sqrt(sum(np.sum((np.asarray(a) - b) ** 2) for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(before))))
    assert moved <= 0.1 * 1.0 + 1e-5


# --------------------------------------------------------------------------- checkpoints
def _trained(tmp_path):
    model = TinyNet(rngs=nnx.Rngs(0))
    trainer = Trainer(model, loss_fn, config(steps=20))
    trainer.fit(make_data())
    return model, trainer, save_checkpoint(tmp_path / "ckpt", model, trainer.optimizer, step=trainer.step)


def test_checkpoint_round_trip(tmp_path):
    model, trainer, path = _trained(tmp_path)
    fresh = TinyNet(rngs=nnx.Rngs(99))
    fresh_trainer = Trainer(fresh, loss_fn, config(steps=20))
    assert restore_checkpoint(path, fresh, fresh_trainer.optimizer) == 20
    for a, b in zip(jax.tree.leaves(nnx.state(model)), jax.tree.leaves(nnx.state(fresh))):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(nnx.state(trainer.optimizer)), jax.tree.leaves(nnx.state(fresh_trainer.optimizer))):
        np.testing.assert_array_equal(a, b)
    # restoring into the model alone is refused: the checkpoint carries optimizer state
    with pytest.raises(CheckpointError, match="has optimizer state"):
        restore_checkpoint(path, TinyNet(rngs=nnx.Rngs(1)))


def test_checkpoint_refuses_to_overwrite(tmp_path):
    model, trainer, path = _trained(tmp_path)
    with pytest.raises(CheckpointError, match="exists already"):
        save_checkpoint(path, model)
    save_checkpoint(path, model, overwrite=True)
    verify_checkpoint(path)


def _data_files(path):
    return sorted(p for p in path.rglob("*") if p.is_file() and p.name != "llmcourse-manifest.json")


def test_truncated_checkpoint_is_refused_and_model_untouched(tmp_path):
    _, _, path = _trained(tmp_path)
    biggest = max(_data_files(path), key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])
    target = TinyNet(rngs=nnx.Rngs(5))
    before = jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(target)))
    with pytest.raises(CheckpointError, match="altered or truncated"):
        restore_checkpoint(path, target, Trainer(target, loss_fn, config()).optimizer)
    after = nnx.to_pure_dict(nnx.state(target))
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
        np.testing.assert_array_equal(a, b)


def test_altered_checkpoint_is_refused(tmp_path):
    _, _, path = _trained(tmp_path)
    victim = max(_data_files(path), key=lambda p: p.stat().st_size)
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="altered or truncated"):
        verify_checkpoint(path)


def test_missing_or_corrupt_manifest_is_refused(tmp_path):
    _, _, path = _trained(tmp_path)
    (path / "llmcourse-manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        verify_checkpoint(path)
    (path / "llmcourse-manifest.json").unlink()
    with pytest.raises(CheckpointError, match="not an llmcourse checkpoint"):
        verify_checkpoint(path)


def test_restore_into_another_architecture_is_a_clear_error(tmp_path):
    _, _, path = _trained(tmp_path)
    wider = TinyNet(hidden=32, rngs=nnx.Rngs(0))
    with pytest.raises(CheckpointError, match=r"does not fit this architecture: .*hidden.* is \[16\] float32 in the checkpoint but \[32\] float32 in the model"):
        restore_checkpoint(path, wider, Trainer(wider, loss_fn, config()).optimizer)


# --------------------------------------------------------------------------- data parallel
MULTI_DEVICE = textwrap.dedent("""
    import json, numpy as np, jax
    from flax import nnx
    from test_training import TinyNet, loss_fn, make_data, config
    from llmcourse.training import train, Trainer
    assert jax.device_count() == 8, jax.devices()
    out = {}
    for parallel in (True, False):
        model = TinyNet(rngs=nnx.Rngs(0))
        t = Trainer(model, loss_fn, config(data_parallel=parallel, batch_size=64))
        out[str(parallel)] = {"devices": t.n_devices, "losses": t.fit(make_data()).losses.tolist(),
                              "eval": t.evaluate(make_data(100, seed=2))}
    print(json.dumps(out))
""")


def test_eight_devices_give_the_same_losses_as_one():
    import json

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", MULTI_DEVICE], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["True"]["devices"] == 8 and out["False"]["devices"] == 1
    np.testing.assert_allclose(out["True"]["losses"], out["False"]["losses"], rtol=1e-4, atol=1e-5)
    # evaluation over 100 examples: batches that do not divide over 8 devices still count exactly once
    assert abs(out["True"]["eval"]["loss"] - out["False"]["eval"]["loss"]) < 1e-4


def test_batch_not_divisible_by_devices_is_a_clear_error():
    code = textwrap.dedent("""
        from flax import nnx
        from test_training import TinyNet, loss_fn, config
        from llmcourse.training import Trainer, ConfigError
        try:
            Trainer(TinyNet(rngs=nnx.Rngs(0)), loss_fn, config(batch_size=30))
        except ConfigError as e:
            print(e)
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "batch_size=30 must be divisible by the number of devices (8)" in out.stdout, out.stderr[-2000:]


def test_fused_steps_match_single_steps():
    """steps_per_call fuses steps into one lax.scan: same batches, same losses, same eval points."""
    runs = {}
    for k in (1, 8):
        model = TinyNet(rngs=nnx.Rngs(0))
        runs[k] = train(model, loss_fn, make_data(), config(steps_per_call=k, eval_every=20), eval_data=make_data(64, seed=1))
    np.testing.assert_allclose(runs[1].losses, runs[8].losses, rtol=1e-5, atol=1e-6)
    assert runs[8].steps == list(range(1, 61)) and runs[8].eval_steps == [20, 40, 60]
    np.testing.assert_allclose(runs[1].eval["loss"], runs[8].eval["loss"], rtol=1e-5)


def test_nan_step_is_exact_inside_fused_steps():
    calls = {"n": 0}

    class Poison:
        def next_batch(self, batch_size):
            calls["n"] += 1
            batch = {k: v[:batch_size].copy() for k, v in make_data().items()}
            if calls["n"] == 13:
                batch["x"][0, 0] = np.nan
            return batch

    with pytest.raises(TrainingError, match="at step 13 "):
        train(TinyNet(rngs=nnx.Rngs(0)), loss_fn, Poison(), config(steps_per_call=5))


# --------------------------------------------------------------------------- the update= hook (sparse SGD, chapter 6)
def _row_update(model, batch, learning_rate):
    """A model-specific update: plain SGD of the summed loss, written to the output layer's rows only."""
    (loss, aux), grads = nnx.value_and_grad(lambda m: loss_fn(m, batch), has_aux=True)(model)
    model.out.kernel[...] = model.out.kernel[...] - learning_rate * grads.out.kernel[...]
    return loss, aux


def _sgd_config(**kw):
    return config(optimizer="sgd", momentum=0.0, clip_norm=None, schedule="linear", **kw)


def test_update_hook_gets_the_schedule_and_changes_only_what_it_writes():
    model = TinyNet(rngs=nnx.Rngs(0))
    hidden_before = np.array(model.hidden.kernel[...])
    out_before = np.array(model.out.kernel[...])
    h = train(model, loss_fn, make_data(), _sgd_config(learning_rate=0.5, eval_every=30), eval_data=make_data(64, seed=1),
              update=_row_update)
    lr = np.array(h.train["learning_rate"])
    np.testing.assert_allclose(lr, 0.5 * (1 - np.arange(60) / 60), rtol=1e-5)  # linear decay, step 0 first
    assert np.array_equal(np.array(model.hidden.kernel[...]), hidden_before)  # never written by the update
    assert not np.array_equal(np.array(model.out.kernel[...]), out_before)
    assert h.losses[-10:].mean() < h.losses[:5].mean() and h.eval_steps == [30, 60]
    assert "grad_norm" not in h.train  # the update reports none; the NaN check uses the loss alone


def test_update_hook_fused_steps_match_single_steps():
    runs = [train(TinyNet(rngs=nnx.Rngs(0)), loss_fn, make_data(), _sgd_config(steps_per_call=k), update=_row_update)
            for k in (1, 6)]
    np.testing.assert_allclose(runs[0].losses, runs[1].losses, rtol=1e-5, atol=1e-6)


def test_update_hook_nan_stops_at_the_exact_step():
    calls = {"n": 0}

    class Poison:
        def next_batch(self, batch_size):
            calls["n"] += 1
            batch = {k: v[:batch_size].copy() for k, v in make_data().items()}
            if calls["n"] == 9:
                batch["x"][0, 0] = np.nan
            return batch

    with pytest.raises(TrainingError, match="non-finite loss at step 9 .*grad_norm=not reported"):
        train(TinyNet(rngs=nnx.Rngs(0)), loss_fn, Poison(), _sgd_config(), update=_row_update)


def test_update_hook_requires_plain_sgd():
    for kw in ({"optimizer": "adamw"}, {"optimizer": "sgd", "momentum": 0.9, "clip_norm": None},
               {"optimizer": "sgd", "momentum": 0.0, "clip_norm": 1.0}):
        with pytest.raises(ConfigError, match="plain SGD"):
            Trainer(TinyNet(rngs=nnx.Rngs(0)), loss_fn, config(**kw), update=_row_update)
    with pytest.raises(ConfigError, match="update must be a function"):
        Trainer(TinyNet(rngs=nnx.Rngs(0)), loss_fn, _sgd_config(), update="sparse")
