"""Chapter 2 checkers: ``check_cross_entropy`` for the learner's binary cross-entropy."""

from __future__ import annotations

import numpy as np

from llmcourse.exercises import call_safely, failed, passed
from llmcourse.models.linear import logistic_loss


def _cases():
    """(description, w, b, x, y) inputs the learner's function must handle, easy ones first."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 3))
    return [
        ("6 examples, 3 features", np.array([0.5, -1.0, 0.25]), 0.1, x, np.array([1, 0, 1, 1, 0, 0])),
        ("all weights and the bias 0 (every p = 0.5)", np.zeros(3), 0.0, x, np.array([1, 0, 0, 1, 0, 1])),
        ("a single example", np.array([2.0]), -0.5, np.array([[1.5]]), np.array([0])),
        ("only positive labels", np.array([1.0, 2.0]), 0.0, np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
         np.array([1, 1, 1])),
        ("bag-of-words style 0/1 features", np.array([1.0, -2.0, 0.5, 0.0]), -0.25,
         np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1]], dtype=float), np.array([1, 0, 1])),
    ]


# Logits of ±60: sigmoid rounds to exactly 1 or 0 there, so log(sigmoid(z)) becomes log(0).
_LARGE = ("confident, wrong predictions (logits +60 and -60)", np.array([30.0, -30.0]), 0.0,
          np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 1]))


def _reference(w, b, x, y) -> float:
    params = {"w": np.asarray(w, dtype=np.float32), "b": np.float32(b)}
    return float(logistic_loss(params, np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)))


def _as_number(value):
    """(float, None) for a single finite-or-not number, else (None, reason)."""
    if value is None:
        return None, "returned None (is a `return` missing?), expected one number"
    try:
        array = np.asarray(value)
    except Exception:  # an object NumPy cannot read
        array = np.asarray(None)
    if array.dtype.kind not in "biuf":  # not bool/int/float: a str, a list of objects, ...
        return None, f"returned {type(value).__name__} {value!r:.60}, expected one number"
    if array.ndim != 0 and array.size != 1:
        return None, (f"returned an array of shape {array.shape}, expected one number: "
                      "the *mean* of the per-example losses")
    return float(array.reshape(()).astype(float)), None


def check_cross_entropy(cross_entropy):
    """Check ``cross_entropy(w, b, x, y)``: the mean binary cross-entropy of sigmoid(x @ w + b) vs y.

    ``w`` (n_features,), ``b`` a number, ``x`` (examples, n_features), ``y`` (examples,) of 0/1 —
    all NumPy. The answer is compared with the package's ``logistic_loss`` (without penalty).
    """
    if not callable(cross_entropy):
        return failed(f"expected a function cross_entropy(w, b, x, y), got {type(cross_entropy).__name__}")
    for case in _cases() + [_LARGE]:
        description, w, b, x, y = case
        with np.errstate(all="ignore"):  # the message below explains overflow better than a warning
            value, problem = call_safely(cross_entropy, w.copy(), b, x.copy(), y.copy())
        if problem is not None:
            return failed(f"on {description}: {problem.message}")
        expected = _reference(w, b, x, y)
        received, reason = _as_number(value)
        if reason is not None:
            return failed(f"on {description} your function {reason}.")
        if not np.isfinite(received):
            hint = ""
            if case is _LARGE:
                hint = (" There sigmoid(z) rounds to exactly 0 or 1, so log(sigmoid(z)) is log(0). Use the "
                        "identity  −[y·log σ(z) + (1−y)·log(1−σ(z))] = log(1 + e^z) − y·z  and compute "
                        "log(1 + e^z) with np.logaddexp(0, z).")
            return failed(f"on {description} your function returned {received}; expected {expected:.6g}.{hint}")
        if not np.isclose(received, expected, rtol=1e-4, atol=1e-5):
            n = len(y)
            hint = ""
            if np.isclose(received, expected * n, rtol=1e-4):
                hint = " That is the sum over examples; take the mean instead."
            elif np.isclose(received, -expected, rtol=1e-4):
                hint = " The sign is flipped: the cross-entropy is −[y·log p + (1−y)·log(1−p)] ≥ 0."
            elif np.isclose(received, _reference(w, b, x, 1 - y), rtol=1e-4):
                hint = " That is the loss with the labels swapped: p is the probability of label 1."
            return failed(
                f"on {description} (w={np.round(w, 3).tolist()}, b={b}) expected {expected:.6g}, "
                f"got {received:.6g}.{hint}"
            )
    return passed(f"your cross-entropy matches the package's on all {len(_cases()) + 1} test inputs, "
                  "including logits of ±60 where a naive log(sigmoid) breaks.")
