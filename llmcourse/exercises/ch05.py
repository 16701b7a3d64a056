"""Checkers for chapter 5, "Language models: predicting the next token"."""

from __future__ import annotations

import math

import numpy as np

from llmcourse import generation
from llmcourse.metrics import perplexity
from llmcourse.exercises import CheckResult, call_safely, failed, passed

# (probabilities the model gave each actual next token) → perplexity. Each case catches one
# mistake: the basic formula, a certain model, unequal probabilities (arithmetic instead of
# geometric mean), a long text whose product of probabilities underflows to 0, and a zero.
PERPLEXITY_CASES: list[list[float]] = [
    [0.5, 0.5, 0.5, 0.5],
    [1.0, 1.0],
    [0.25, 0.5, 1.0],
    [1 / 327] * 10,
    [0.9, 0.05, 0.5, 0.01, 0.3],
    [1e-5] * 100,
]


_UNDERFLOW = ("The product of 100 probabilities of 1e-5 is 1e-500, below the smallest float (about 1e-308): "
              "it underflows to 0. Add logarithms instead of multiplying probabilities.")


def expected_perplexity(probs) -> float:
    """The reference: ``llmcourse.metrics.perplexity`` of the natural logs; inf if any is 0."""
    probs = np.asarray(probs, dtype=np.float64)
    if (probs == 0).any():
        return math.inf
    return perplexity(np.log(probs))


def check_perplexity(function) -> CheckResult:
    """Check ``function(probs) -> float``: the perplexity of a model that gave the actual next
    tokens of a text the probabilities ``probs`` (a list of floats in (0, 1])."""
    for probs in PERPLEXITY_CASES:
        expected = expected_perplexity(probs)
        shown = probs if len(probs) <= 5 else f"[{probs[0]:.3g}] * {len(probs)}"
        answer, error = call_safely(function, list(probs))
        if error is not None:
            if len(probs) == 100 and "NotImplementedError" not in error.message:
                return failed(f"for probs={shown}: {error.message}. {_UNDERFLOW}")
            return failed(f"for probs={shown}: {error.message}")
        if answer is None:
            return failed(f"for probs={shown} your function returned None — write its body and return a number.")
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return failed(f"for probs={shown} your function returned {answer!r}; return one number.")
        if math.isclose(value, expected, rel_tol=1e-6):
            continue
        if len(probs) == 100 and (math.isinf(value) or value == 0 or math.isnan(value)):
            return failed(f"for probs={shown} the answer is {expected:.6g}, you returned {value}. {_UNDERFLOW}")
        arithmetic = 1 / float(np.mean(probs))
        if math.isclose(value, arithmetic, rel_tol=1e-6):
            return failed(f"for probs={shown} you returned 1 / mean(probs) = {value:.6g}, but perplexity is "
                          f"exp(-mean(ln p)) = {expected:.6g}: the geometric, not the arithmetic, mean.")
        if math.isclose(value, math.log(expected), rel_tol=1e-6):
            return failed(f"for probs={shown} you returned the cross-entropy {value:.6g} (nats); perplexity is "
                          f"its exponential, {expected:.6g}.")
        if math.isclose(value, math.log2(expected), rel_tol=1e-6):
            return failed(f"for probs={shown} you returned the cross-entropy in bits, {value:.6g}; perplexity is "
                          f"2 to that power, {expected:.6g}.")
        return failed(f"for probs={shown} expected perplexity {expected:.6g}, got {value:.6g}.")
    return passed("your perplexity matches the package's on every case, including a text whose product of "
                  "probabilities underflows.")


# (logits, temperature) pairs. Each catches one mistake: the basic formula, multiplying by T,
# large logits that overflow exp() without subtracting the maximum, a very low temperature, a
# token already filtered out (logit -inf), and a batch (the softmax runs over the last axis).
TEMPERATURE_CASES: list[tuple[list, float]] = [
    ([1.0, 2.0, 3.0], 1.0),
    ([1.0, 2.0, 3.0], 0.5),
    ([0.5, -1.0, 2.0, 0.0], 2.0),
    ([1000.0, 1001.0, 1002.0], 1.0),
    ([1.0, 2.0, 1.5], 0.01),
    ([0.0, -math.inf, 1.0], 1.0),
    ([[1.0, 2.0, 3.0], [3.0, 3.0, 0.0]], 0.7),
]


def expected_temperature_softmax(logits, temperature: float) -> np.ndarray:
    """The reference: ``llmcourse.generation.probabilities(logits, temperature)``."""
    return np.asarray(generation.probabilities(np.asarray(logits, dtype=np.float32), temperature=temperature),
                      dtype=np.float64)


def _softmax(z):
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def check_softmax_with_temperature(function) -> CheckResult:
    """Check ``function(logits, temperature) -> probabilities``: softmax(logits / temperature) over
    the last axis of a NumPy array of logits."""
    for logits, t in TEMPERATURE_CASES:
        expected = expected_temperature_softmax(logits, t)
        where = f"for logits={logits} and temperature={t}"
        with np.errstate(all="ignore"):
            answer, error = call_safely(function, np.asarray(logits, dtype=np.float64), t)
        if error is not None:
            return failed(f"{where}: {error.message}")
        if answer is None:
            return failed(f"{where} your function returned None — write its body and return the probabilities.")
        try:
            got = np.asarray(answer, dtype=np.float64)
        except (TypeError, ValueError):
            return failed(f"{where} your function returned {type(answer).__name__}; return an array of probabilities.")
        if got.shape != expected.shape:
            return failed(f"{where} expected an array of shape {expected.shape}, got shape {got.shape}"
                          + (" — take the softmax over the last axis (axis=-1), row by row." if expected.ndim == 2 else "."))
        if np.isnan(got).any():
            hint = (" exp(1000) overflows to inf, and inf / inf is NaN: subtract the largest logit first "
                    "(softmax(z) = softmax(z - max z))." if max(np.ravel(logits)) > 100 or t < 0.1 else
                    " Look for inf - inf or 0 / 0: a logit of -inf must simply give probability 0.")
            return failed(f"{where} your probabilities contain NaN.{hint}")
        if np.allclose(got, expected, atol=1e-5):
            continue
        if t != 1 and np.allclose(got, _softmax(np.asarray(logits) * t), atol=1e-5):
            return failed(f"{where} you multiplied the logits by the temperature; divide them: softmax(z / T).")
        if t != 1 and np.allclose(got, _softmax(logits), atol=1e-5):
            return failed(f"{where} your probabilities ignore the temperature: use softmax(z / T).")
        if not np.allclose(got.sum(axis=-1), 1, atol=1e-5):
            rows = " — normalise each row: the sum over the last axis (axis=-1, keepdims=True)" if got.ndim == 2 else ""
            return failed(f"{where} your probabilities sum to {np.round(got.sum(axis=-1), 4).tolist()}, not 1{rows}.")
        return failed(f"{where} expected {np.round(expected, 4).tolist()}, got {np.round(got, 4).tolist()}.")
    return passed("softmax(z / T) matches the package on every case: large logits, a low temperature, "
                  "a filtered token and a batch.")
