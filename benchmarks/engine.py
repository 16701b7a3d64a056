"""The training engine against hand-written JAX, and three ways of compiling an NNX step.

Printed, for two model sizes (the chapter-3 MLP and a tiny network):

* ``hand-written jax.jit``: the same MLP as plain functions over a dict of arrays with an optax
  state and donated buffers — the fastest thing a JAX programmer would write by hand;
* ``engine step``: ``Trainer``'s compiled step (``jax.jit`` over the ``nnx.split`` state, donated);
* ``nnx.jit`` and ``nnx.cached_partial(nnx.jit(...))``: the NNX-object alternatives the engine
  could have used;
* ``engine fit loop``: the whole ``Trainer.fit`` per step, batching and metric fetching included,
  one step per call and with ``steps_per_call=50`` (50 steps fused into one ``lax.scan``).

The ratio is hand-written time / engine time (≥ 0.95 is the target: the engine costs ≤ 5%).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from llmcourse.performance import hand_written_step
from llmcourse.training import TrainConfig, Trainer


class MLP(nnx.Module):
    def __init__(self, d_in, hidden, d_out, *, rngs):
        self.l1 = nnx.Linear(d_in, hidden, rngs=rngs)
        self.l2 = nnx.Linear(hidden, d_out, rngs=rngs)

    def __call__(self, x):
        return self.l2(jax.nn.relu(self.l1(x)))


def loss_fn(model, batch):
    logits = model(batch["x"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {}


def _time_per_call(fn, n_calls: int, repeats: int = 5) -> float:
    """Best of ``repeats`` averages over ``n_calls`` calls (seconds per call)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(n_calls)
        best = min(best, (time.perf_counter() - start) / n_calls)
    return best


def bench_model(d_in, hidden, d_out, batch_size, n_calls):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4096, d_in)).astype(np.float32)
    y = rng.integers(0, d_out, 4096).astype(np.int32)
    batch = {"x": jnp.asarray(x[:batch_size]), "y": jnp.asarray(y[:batch_size])}
    cfg = TrainConfig(steps=n_calls, batch_size=batch_size, learning_rate=1e-3, optimizer="adam",
                      clip_norm=None, progress=False, log_every=n_calls)
    tx = cfg.optax_transform()
    results = {}

    # 1. hand-written: the same MLP as plain functions over a dict of arrays (no NNX at all)
    init = MLP(d_in, hidden, d_out, rngs=nnx.Rngs(0))
    params = {"w1": init.l1.kernel[...], "b1": init.l1.bias[...], "w2": init.l2.kernel[...], "b2": init.l2.bias[...]}

    def hand_loss(p, batch):
        logits = jax.nn.relu(batch["x"] @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()

    hand_step = hand_written_step(hand_loss, tx)
    state = [params, tx.init(params)]

    def run_hand(n):
        p, o = state
        for _ in range(n):
            p, o, loss = hand_step(p, o, batch)
        jax.block_until_ready(loss)
        state[:] = [p, o]

    run_hand(2)
    runners = {"hand-written jax.jit": (run_hand, n_calls)}

    # 2. the engine's compiled step
    trainer = Trainer(MLP(d_in, hidden, d_out, rngs=nnx.Rngs(0)), loss_fn, cfg)
    sharded = trainer._shard(batch)

    def run_engine(n):
        for _ in range(n):
            trainer.state, metrics = trainer._train_step(trainer.state, sharded)
        jax.block_until_ready(metrics)

    run_engine(2)
    runners["engine step (jax.jit over nnx.split state)"] = (run_engine, n_calls)

    # 3. nnx.jit on the objects, and nnx.cached_partial
    m3 = MLP(d_in, hidden, d_out, rngs=nnx.Rngs(0))
    opt3 = nnx.Optimizer(m3, tx, wrt=nnx.Param)

    @nnx.jit
    def nnx_step(model, optimizer, batch):
        loss, grads = nnx.value_and_grad(lambda m: loss_fn(m, batch)[0])(model)
        optimizer.update(model, grads)
        return loss

    def run_nnx(n):
        for _ in range(n):
            loss = nnx_step(m3, opt3, batch)
        jax.block_until_ready(loss)

    run_nnx(2)
    runners["nnx.jit"] = (run_nnx, n_calls)

    cached = nnx.cached_partial(nnx_step, m3, opt3)

    def run_cached(n):
        for _ in range(n):
            loss = cached(batch)
        jax.block_until_ready(loss)

    run_cached(2)
    runners["nnx.cached_partial(nnx.jit)"] = (run_cached, n_calls)

    # 4. the whole fit loop per step (host batching, device_put, metric fetches)
    data = {"x": x, "y": y}
    fit_trainer = Trainer(MLP(d_in, hidden, d_out, rngs=nnx.Rngs(0)), loss_fn, cfg)
    fit_trainer.fit(data)  # compile

    def run_fit(n):
        fit_trainer.fit(data)

    runners["engine fit loop (per step, batching included)"] = (run_fit, n_calls)

    # 5. the same loop with 50 steps fused into one compiled lax.scan per call
    fused_cfg = TrainConfig(**{**cfg.__dict__, "steps_per_call": 50})
    fused = Trainer(MLP(d_in, hidden, d_out, rngs=nnx.Rngs(0)), loss_fn, fused_cfg)
    fused.fit(data)  # compile

    def run_fused(n):
        fused.fit(data)

    runners["engine fit loop, steps_per_call=50"] = (run_fused, n_calls)
    # interleaved rounds, best per method: a busy machine slows every method alike
    for _ in range(5):
        for name, (fn, n) in runners.items():
            results[name] = min(results.get(name, float("inf")), _time_per_call(fn, n, repeats=1))
    return results


def main():
    print(f"\n== engine vs hand-written JAX ({jax.devices()[0].platform}, {jax.device_count()} device(s)) ==")
    for title, args in [
        ("chapter-3 MLP 64-128-10, batch 128", (64, 128, 10, 128, 300)),
        ("tiny MLP 8-16-3, batch 32", (8, 16, 3, 32, 300)),
    ]:
        r = bench_model(*args)
        hand = r["hand-written jax.jit"]
        print(f"\n{title}")
        print(f"  {'method':<48} {'µs/step':>9} {'hand/this':>10}")
        for name, t in r.items():
            print(f"  {name:<48} {t * 1e6:9.1f} {hand / t:10.2f}")
        engine = r["engine step (jax.jit over nnx.split state)"]
        print(f"  engine step ratio (target >= 0.95): {hand / engine:.2f}; "
              f"fit-loop overhead per step: {(r['engine fit loop (per step, batching included)'] - engine) * 1e6:.1f} µs")
