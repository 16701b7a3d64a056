"""Checkers for chapter 8, "Attention and the transformer"."""

from __future__ import annotations

import math

import numpy as np

from llmcourse.exercises import call_safely, failed, passed


def _softmax(z, axis=-1):
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _reference(q, k, v, *, causal=True, scale=True, axis=-1, mask_after=False, upper=False):
    """Attention in float64, correct by default; the keyword arguments make the usual mistakes."""
    t, d = q.shape[-2], q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2)
    if scale:
        scores = scores / math.sqrt(d)
    allowed = np.triu(np.ones((t, t), bool)) if upper else np.tril(np.ones((t, t), bool))
    if causal and not mask_after:
        scores = np.where(allowed, scores, -np.inf)
    weights = _softmax(scores, axis=axis)
    if causal and mask_after:
        weights = np.where(allowed, weights, 0.0)
    return weights @ v


def _cases():
    rng = np.random.default_rng(8)
    cases = [tuple(rng.normal(size=(5, 4)) for _ in range(3)),  # (time, d)
             tuple(rng.normal(size=(2, 3, 6, 8)) for _ in range(3))]  # (batch, heads, time, head_dim)
    q, k, v = (rng.normal(size=(4, 2)) for _ in range(3))
    cases.append((q * 300.0, k * 300.0, v))  # scores in the tens of thousands: exp() overflows unless shifted
    return cases


def check_causal_attention(causal_attention) -> object:
    """Check ``causal_attention(q, k, v)``: NumPy arrays (..., time, d) in, the outputs of causal
    scaled dot-product attention (..., time, d) out, equal to ``llmcourse.models.transformer.attention``
    with ``causal_mask``."""
    for index, (q, k, v) in enumerate(_cases()):
        got, error = call_safely(causal_attention, q.copy(), k.copy(), v.copy())
        if error is not None:
            return error
        if got is None:
            return failed("your function returned None — return the array of outputs, one row per position.")
        if isinstance(got, tuple):
            return failed("return only the outputs (the weighted sums of the values), not a tuple; the "
                          "package's `attention` returns the weights too, your function should not.")
        got = np.asarray(got, dtype=float)
        want = _reference(q, k, v)
        if got.shape != want.shape:
            return failed(f"for q, k, v of shape {q.shape} the output must have shape {want.shape} (one d-wide row "
                          f"per position), got {got.shape}.")
        if not np.all(np.isfinite(got)):
            if index == 2:
                return failed("with large scores (q and k around 300) your output has NaN or inf: exp() overflows. "
                              "Subtract each row's largest score before exp(), or use a stable softmax "
                              "(e.g. jax.nn.softmax or scipy.special.softmax).")
            return failed("your output has NaN or inf. A row whose scores are all -inf gives 0/0: every row must "
                          "keep at least its own position (the diagonal).")
        if np.allclose(got, want, rtol=1e-5, atol=1e-6):
            continue
        mistakes = [
            (dict(causal=False), "every position can see the future: apply the causal mask (scores of positions "
                                 "u > t set to -inf before the softmax)."),
            (dict(upper=True), "your mask is the wrong way round: it hides the past and shows the future. Keep "
                               "u <= t (the lower triangle, np.tril)."),
            (dict(scale=False), "divide the scores by sqrt(d), d = the last axis of q (the width of a query)."),
            (dict(axis=-2), "normalise each row over the keys (the last axis): softmax(scores, axis=-1)."),
            (dict(mask_after=True), "mask *before* the softmax. Zeroing weights afterwards leaves rows that no longer "
                                    "sum to 1."),
        ]
        for kwargs, message in mistakes:
            wrong = _reference(q, k, v, **kwargs)
            if np.allclose(got, wrong, rtol=1e-5, atol=1e-6):
                return failed(message)
        if np.allclose(got, _scaled_by(q, k, v, q.shape[-1]), rtol=1e-5, atol=1e-6):
            return failed("divide the scores by sqrt(d), not by d.")
        err = float(np.max(np.abs(got - want)))
        return failed(f"for q, k, v of shape {q.shape} your outputs differ from causal attention by up to {err:.3g}. "
                      "Check the order: scores = q @ k^T / sqrt(d), mask, softmax over the last axis, weights @ v.")
    # the defining property, checked directly: a later value never changes an earlier output
    q, k, v = _cases()[0]
    changed = v.copy()
    changed[-1] += 10.0
    before, _ = call_safely(causal_attention, q, k, v)
    after, _ = call_safely(causal_attention, q, k, changed)
    if not np.allclose(np.asarray(before)[:-1], np.asarray(after)[:-1]):
        return failed("changing the last value changed earlier outputs: the future leaks into the past.")
    return passed("your causal attention matches the package's on one sequence, on a (batch, heads) stack, and on "
                  "huge scores, and changing a later value never changes an earlier output.")


def _scaled_by(q, k, v, divisor):
    t = q.shape[-2]
    scores = q @ np.swapaxes(k, -1, -2) / divisor
    scores = np.where(np.tril(np.ones((t, t), bool)), scores, -np.inf)
    return _softmax(scores) @ v
