"""Checkers for chapter 7, "Recurrent neural networks"."""

from __future__ import annotations

import numpy as np

from llmcourse.exercises import CheckResult, call_safely, failed, passed


# --------------------------------------------------------------------------- one RNN step
def _cases_rnn_step() -> list[tuple[str, dict]]:
    """(description, arguments) cases, easiest first; each catches a different mistake."""
    rng = np.random.default_rng(7)

    def normal(*shape, scale=1.0):
        return (scale * rng.normal(size=shape)).astype(np.float32)

    def case(batch, n_in, hidden, h_scale=1.0, b=None):
        return {"x": normal(batch, n_in), "h": normal(batch, hidden, scale=h_scale),
                "W": normal(n_in, hidden, scale=0.5), "U": normal(hidden, hidden, scale=0.5),
                "b": normal(hidden) if b is None else b}

    return [
        ("a batch of 2, 3 inputs, 4 hidden units", case(2, 3, 4)),
        ("the first step (h = 0)", case(2, 3, 4, h_scale=0.0)),
        ("a single example (batch of 1)", case(1, 5, 3)),
        ("more inputs than hidden units (W is 6×2)", case(3, 6, 2)),
        ("a large bias that saturates tanh", case(2, 3, 4, b=np.full(4, 4.0, np.float32))),
        ("a batch of 5, 8 inputs, 16 hidden units", case(5, 8, 16)),
    ]


def reference_rnn_step(x, h, W, U, b) -> np.ndarray:
    """What ``llmcourse.models.rnn.VanillaRNNCell`` computes for one step with these weights."""
    from flax import nnx

    from llmcourse.models.rnn import VanillaRNNCell

    cell = VanillaRNNCell(W.shape[0], W.shape[1], rngs=nnx.Rngs(0))
    cell.input_weights[...] = np.asarray(W)
    cell.recurrent_weights[...] = np.asarray(U)
    cell.bias[...] = np.asarray(b)
    new_h, _ = cell(np.asarray(h), np.asarray(x))
    return np.asarray(new_h)


def check_rnn_step(function) -> CheckResult:
    """Check ``function(x, h, W, U, b) -> tanh(x @ W + h @ U + b)``, one step of the vanilla RNN.

    ``x`` has shape (batch, in), ``h`` (batch, hidden), ``W`` (in, hidden), ``U`` (hidden, hidden)
    and ``b`` (hidden,); the new hidden state has shape (batch, hidden).
    """
    cases = _cases_rnn_step()
    for description, args in cases:
        x, h, W, U, b = (args[k] for k in ("x", "h", "W", "U", "b"))
        where = f"for {description} (x {x.shape}, h {h.shape}, W {W.shape}, U {U.shape})"
        answer, error = call_safely(function, x.copy(), h.copy(), W.copy(), U.copy(), b.copy())
        if error is not None:
            return failed(f"{where}: {error.message}")
        if answer is None:
            return failed(f"{where}: your function returned None — return the new hidden state, an array "
                          "of shape (batch, hidden).")
        if isinstance(answer, tuple):
            return failed(f"{where}: your function returned a tuple; return only the new hidden state "
                          "(the package's cell returns it twice, as carry and output, but the exercise asks "
                          "for one array).")
        try:
            out = np.asarray(answer, dtype=np.float64)
        except (TypeError, ValueError):
            return failed(f"{where}: your function returned a {type(answer).__name__}, not an array of numbers.")
        expected = reference_rnn_step(x, h, W, U, b)
        if out.shape != expected.shape:
            return failed(f"{where}: expected the new hidden state with shape {expected.shape} (batch, hidden), "
                          f"got {out.shape}.")
        if not np.all(np.isfinite(out)):
            return failed(f"{where}: your output contains NaN or infinity.")
        if np.allclose(out, expected, rtol=1e-4, atol=1e-5):
            continue
        x64, h64 = x.astype(np.float64), h.astype(np.float64)
        pre = x64 @ W + h64 @ U + b
        diagnoses = [
            (pre, "you returned the sum before the activation: apply np.tanh to x @ W + h @ U + b."),
            (np.tanh(x64 @ W + b), "the recurrent term is missing: the step must add h @ U, the previous "
                                   "hidden state's contribution."),
            (np.tanh(x64 @ W + h64 @ U), "the bias b is missing: add it inside the tanh."),
            (np.tanh(x64 @ W + h64 @ U) + b, "you added the bias after the tanh; add it inside: tanh(x @ W + h @ U + b)."),
            (np.maximum(pre, 0), "you used a ReLU; the vanilla RNN uses tanh, which keeps h between -1 and 1."),
            (1 / (1 + np.exp(-pre)), "you used a sigmoid; the vanilla RNN uses tanh (values between -1 and 1)."),
            (np.tanh(x64 @ W + h64 @ U.T + b), "U is applied transposed: with row vectors the step is h @ U, "
                                                "not h @ U.T."),
        ]
        for wrong, message in diagnoses:
            if wrong.shape == out.shape and np.allclose(out, wrong, rtol=1e-4, atol=1e-5):
                return failed(f"{where}: {message}")
        i, j = np.unravel_index(np.argmax(np.abs(out - expected)), out.shape)
        return failed(f"{where}: h_new[{i}, {j}] should be {expected[i, j]:.4g}, got {out[i, j]:.4g}.")
    return passed(f"your step agrees with llmcourse's VanillaRNNCell on all {len(cases)} cases, including "
                  "the first step (h = 0), a single example, a non-square W and a bias that saturates tanh.")


# --------------------------------------------------------------------------- gradient clipping
def _cases_clipping() -> list[tuple[str, list[np.ndarray], float]]:
    rng = np.random.default_rng(77)

    def normal(*shape, scale=1.0):
        return (scale * rng.normal(size=shape)).astype(np.float32)

    return [
        ("two arrays whose joint norm is above the limit", [normal(3, 4), normal(4)], 1.0),
        ("gradients already below the limit (nothing to do)", [normal(3, 2, scale=0.01), normal(2, scale=0.01)], 1.0),
        ("one exploding array next to small ones", [normal(5, scale=0.01), normal(4, 4, scale=100.0), normal(3, scale=0.01)], 5.0),
        ("each array below the limit, together above it", [np.full(4, 0.4, np.float32), np.full(4, 0.4, np.float32),
                                                            np.full(4, 0.4, np.float32)], 1.0),
        ("a single array", [normal(6, 6, scale=3.0)], 2.0),
    ]


def check_clip_by_global_norm(function) -> CheckResult:
    r"""Check ``function(grads, max_norm) -> clipped`` against ``optax.clip_by_global_norm``.

    ``grads`` is a list of arrays; their *global* norm is :math:`g = \sqrt{\sum_i \lVert
    \text{grads}_i \rVert^2}` over every number in every array. When :math:`g > \text{max\_norm}`
    every array is multiplied by :math:`\text{max\_norm} / g`; otherwise nothing changes.
    """
    import optax

    cases = _cases_clipping()
    for description, grads, max_norm in cases:
        where = f"for {description} (max_norm = {max_norm})"
        answer, error = call_safely(function, [g.copy() for g in grads], max_norm)
        if error is not None:
            return failed(f"{where}: {error.message}")
        if answer is None:
            return failed(f"{where}: your function returned None — return the list of clipped arrays.")
        try:
            out = [np.asarray(a, dtype=np.float64) for a in answer]
        except (TypeError, ValueError):
            return failed(f"{where}: return a list of arrays, one per gradient array.")
        if len(out) != len(grads):
            return failed(f"{where}: you returned {len(out)} arrays for {len(grads)} gradient arrays; return one "
                          "clipped array for each.")
        if any(o.shape != g.shape for o, g in zip(out, grads)):
            return failed(f"{where}: every clipped array must keep its shape; got shapes "
                          f"{[o.shape for o in out]} for {[g.shape for g in grads]}.")
        expected, _ = optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())
        expected = [np.asarray(e, dtype=np.float64) for e in expected]
        if all(np.allclose(o, e, rtol=1e-4, atol=1e-7) for o, e in zip(out, expected)):
            continue
        g = np.sqrt(sum(float(np.sum(np.square(a.astype(np.float64)))) for a in grads))
        per_array = [a * min(1.0, max_norm / max(np.linalg.norm(a), 1e-30)) for a in grads]
        always = [a * max_norm / g for a in grads]
        clipped_values = [np.clip(a, -max_norm, max_norm) for a in grads]
        if all(np.allclose(o, a, rtol=1e-4, atol=1e-7) for o, a in zip(out, grads)) and g > max_norm:
            return failed(f"{where}: nothing was clipped, but the global norm is {g:.4g} > {max_norm}: "
                          "scale every array by max_norm / global_norm.")
        if all(np.allclose(o, a, rtol=1e-4, atol=1e-7) for o, a in zip(out, per_array)):
            return failed(f"{where}: you clipped each array by its own norm; clipping uses one global norm over "
                          "all arrays together, so every array is scaled by the same factor and the "
                          "direction of the whole gradient is kept.")
        if all(np.allclose(o, a, rtol=1e-4, atol=1e-7) for o, a in zip(out, always)):
            return failed(f"{where}: you rescaled gradients whose global norm ({g:.4g}) is already within the "
                          f"limit {max_norm}; leave them unchanged — clipping only ever shrinks.")
        if all(np.allclose(o, a, rtol=1e-4, atol=1e-7) for o, a in zip(out, clipped_values)):
            return failed(f"{where}: you clipped every number into [-max_norm, max_norm] (that is clipping by "
                          "value); clip by the global norm instead, which keeps the gradient's direction.")
        return failed(f"{where}: the global norm of the gradients is {g:.4g}; expected them scaled by "
                      f"{min(1.0, max_norm / g):.4g}, which your arrays are not.")
    return passed(f"your clipping agrees with optax.clip_by_global_norm on all {len(cases)} cases, including "
                  "gradients already within the limit and arrays that are each small but together too large.")
