"""Checkers for chapter 3, "Deep learning: learning the features"."""

from __future__ import annotations

import numpy as np

from llmcourse.exercises import CheckResult, call_safely, failed, passed


def _cases_dense() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(description, x, kernel, bias) cases, easiest first; each catches a different mistake."""
    rng = np.random.default_rng(3)

    def normal(*shape):
        return rng.normal(size=shape).astype(np.float32)

    return [
        ("a batch of 2 examples, 3 inputs, 4 outputs", normal(2, 3), normal(3, 4), normal(4)),
        ("a single example (batch of 1)", normal(1, 3), normal(3, 4), normal(4)),
        ("more inputs than outputs (kernel 5×2)", normal(4, 5), normal(5, 2), normal(2)),
        ("a bias that pushes every unit below zero", normal(3, 3), 0.1 * normal(3, 3), np.full(3, -5, np.float32)),
        ("a bias that pushes every unit above zero", normal(3, 2), 0.1 * normal(2, 6), np.full(6, 5, np.float32)),
        ("pixels in [0, 1], 64 inputs, 8 outputs", rng.uniform(size=(6, 64)).astype(np.float32), normal(64, 8) / 8, normal(8)),
    ]


def reference_dense_relu(x, kernel, bias) -> np.ndarray:
    """What one hidden layer of ``llmcourse.models.mlp.MLP`` computes: ``relu(nnx.Linear(x))``."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    zeros = nnx.initializers.zeros_init()
    layer = nnx.Linear(kernel.shape[0], kernel.shape[1], kernel_init=zeros, bias_init=zeros, rngs=nnx.Rngs(0))
    layer.kernel[...] = jnp.asarray(kernel, dtype=jnp.float32)
    layer.bias[...] = jnp.asarray(bias, dtype=jnp.float32)
    return np.asarray(jax.nn.relu(layer(np.asarray(x))))


def _as_array(answer, where: str, what: str):
    if answer is None:
        return None, failed(f"{where}: your function returned None — write its body so that it returns {what}.")
    try:
        out = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return None, failed(f"{where}: your function returned a {type(answer).__name__}, not an array of numbers.")
    return out, None


def check_dense_relu(function) -> CheckResult:
    """Check ``function(x, kernel, bias) -> relu(x @ kernel + bias)`` against one layer of the MLP.

    ``x`` has shape (batch, in), ``kernel`` (in, out) and ``bias`` (out,); the answer has shape
    (batch, out).
    """
    cases = _cases_dense()
    for description, x, kernel, bias in cases:
        where = f"for {description} (x {x.shape}, kernel {kernel.shape}, bias {bias.shape})"
        answer, error = call_safely(function, x.copy(), kernel.copy(), bias.copy())
        if error is not None:
            return failed(f"{where}: {error.message}")
        out, error = _as_array(answer, where, "the layer's output, an array of shape (batch, out)")
        if error is not None:
            return error
        expected = reference_dense_relu(x, kernel, bias)
        if out.shape != expected.shape:
            hint = ""
            if out.shape == expected.shape[::-1]:
                hint = " It looks transposed: multiply x @ kernel (batch, in) @ (in, out), not the other way round."
            return failed(f"{where}: expected an output of shape {expected.shape} (batch, out), got {out.shape}.{hint}")
        if not np.all(np.isfinite(out)):
            return failed(f"{where}: your output contains NaN or infinity.")
        if np.allclose(out, expected, rtol=1e-4, atol=1e-5):
            continue
        pre = x.astype(np.float64) @ kernel + bias
        if np.any(out < -1e-6):
            if np.allclose(out, pre, rtol=1e-4, atol=1e-5):
                return failed(f"{where}: your output has negative numbers — the ReLU is missing: "
                              "apply max(0, ·) to x @ kernel + bias.")
            return failed(f"{where}: your output has negative numbers, but a ReLU never outputs "
                          "anything below zero.")
        if np.allclose(out, np.maximum(x.astype(np.float64) @ kernel, 0), rtol=1e-4, atol=1e-5):
            return failed(f"{where}: the bias is missing: add it to x @ kernel before the ReLU.")
        if np.allclose(out, np.maximum(x.astype(np.float64) @ kernel, 0) + bias, rtol=1e-4, atol=1e-5):
            return failed(f"{where}: you added the bias after the ReLU; add it first: relu(x @ kernel + bias).")
        if np.allclose(out, np.abs(pre), rtol=1e-4, atol=1e-5):
            return failed(f"{where}: you took the absolute value; a ReLU sets negative numbers to 0 instead.")
        i, j = np.unravel_index(np.argmax(np.abs(out - expected)), out.shape)
        return failed(f"{where}: output[{i}, {j}] should be {expected[i, j]:.4g}, got {out[i, j]:.4g}.")
    return passed(f"your layer agrees with a hidden layer of llmcourse's MLP on all {len(cases)} cases, "
                  "including a single example, a non-square kernel, and biases that switch every unit "
                  "off or on.")


# --------------------------------------------------------------------------- reconstruction error
def _cases_mse() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(33)

    def pixels(*shape):
        return rng.uniform(size=shape).astype(np.float32)

    same = pixels(3, 64)
    return [
        ("a batch of 2 examples of 3 pixels", pixels(2, 3), pixels(2, 3)),
        ("a perfect reconstruction", same, same.copy()),
        ("a single 64-pixel digit", pixels(1, 64), pixels(1, 64)),
        ("a batch of 5 digits", pixels(5, 64), pixels(5, 64)),
        ("a reconstruction that is too bright everywhere", np.full((4, 6), 0.9, np.float32), np.full((4, 6), 0.4, np.float32)),
    ]


def check_mean_squared_error(function) -> CheckResult:
    """Check ``function(reconstruction, target) -> mean((reconstruction - target)²)``: one number.

    The mean runs over every example *and* every pixel, as in ``llmcourse.models.mlp.mean_squared_error``.
    """
    from llmcourse.models.mlp import mean_squared_error

    cases = _cases_mse()
    for description, reconstruction, target in cases:
        where = f"for {description} (shape {reconstruction.shape})"
        answer, error = call_safely(function, reconstruction.copy(), target.copy())
        if error is not None:
            return failed(f"{where}: {error.message}")
        out, error = _as_array(answer, where, "one number, the mean squared error")
        if error is not None:
            return error
        if out.shape != ():
            return failed(f"{where}: return one number (the mean over all examples and pixels), "
                          f"got an array of shape {out.shape}.")
        value = float(out)
        expected = float(mean_squared_error(reconstruction, target))
        if np.isclose(value, expected, rtol=1e-4, atol=1e-7):
            continue
        diff = reconstruction.astype(np.float64) - target
        wrong_answers = [
            ((diff**2).sum(), "you summed the squared errors; divide by the number of numbers too (take the mean)."),
            ((diff**2).sum(1).mean(), "you summed over pixels and averaged over examples; average over both."),
            ((diff**2).mean(1).sum(), "you averaged over pixels and summed over examples; average over both."),
            (np.abs(diff).mean(), "you averaged the absolute errors; square them instead."),
            (np.sqrt((diff**2).mean()), "you took the square root (that is the RMSE); leave the mean of the squares."),
            (diff.mean() ** 2, "you squared the mean difference; square each difference first, then average."),
        ]
        for wrong, message in wrong_answers:
            if np.isclose(value, wrong, rtol=1e-4, atol=1e-7) and not np.isclose(wrong, expected, rtol=1e-4):
                return failed(f"{where}: {message}")
        return failed(f"{where}: expected {expected:.6g}, got {value:.6g}.")
    return passed(f"your loss agrees with llmcourse's mean_squared_error on all {len(cases)} cases, "
                  "including a perfect reconstruction (0) and a single digit.")
