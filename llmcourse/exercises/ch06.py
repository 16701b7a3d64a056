"""Chapter 6 checkers: ``check_negative_sampling`` for the learner's loss and gradients of one pair."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from llmcourse.exercises import call_safely, failed, passed
from llmcourse.models.word2vec import negative_sampling_loss

NAMES = ("loss", "grad_v", "grad_u_true", "grad_u_noise")


def reference(v, u_true, u_noise):
    """The package's answer: ``negative_sampling_loss`` for one pair and its gradients by autodiff."""
    v, u_true, u_noise = (jnp.asarray(x, dtype=jnp.float32) for x in (v, u_true, u_noise))

    def loss(v, u_true, u_noise):
        u = jnp.concatenate([u_true[None], u_noise])[None]  # (1, 1 + K, d)
        return negative_sampling_loss(v[None], u, jnp.ones(u.shape[:2]))[0]

    value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2))(v, u_true, u_noise)
    return (float(value), *(np.asarray(g, dtype=np.float64) for g in grads))


def _cases():
    """(description, v, u_true, u_noise) — easy ones first."""
    rng = np.random.default_rng(6)
    d = 4
    return [
        ("d = 4, K = 3 noise words", rng.normal(size=d), rng.normal(size=d), rng.normal(size=(3, d))),
        ("all vectors zero (every score 0)", np.zeros(d), np.zeros(d), np.zeros((2, d))),
        ("a single noise word (K = 1)", rng.normal(size=d), rng.normal(size=d), rng.normal(size=(1, d))),
        ("d = 10, K = 5", rng.normal(size=10) * 0.3, rng.normal(size=10) * 0.3, rng.normal(size=(5, 10)) * 0.3),
    ]


# scores of −800 for the true word and +800 for the noise word: e^800 overflows even in float64, so
# log σ(x) written naively as log(1 / (1 + e^(−x))) becomes log 0.
_LARGE = ("very wrong scores (true word scored −800, noise word +800)", np.full(4, 10.0), np.full(4, -20.0),
          np.full((1, 4), 20.0))


def _hint(name: str, got: np.ndarray, want: np.ndarray) -> str:
    if np.allclose(got, -want, rtol=1e-4, atol=1e-6) and np.abs(want).max() > 1e-8:
        return f" Your {name} has the opposite sign: it is the gradient of the loss, which SGD *subtracts*."
    if name == "grad_v":
        return (" ∂ℓ/∂v = (σ(u_o·v) − 1)·u_o + Σ_k σ(u_k·v)·u_k: one term for the true word and one for each "
                "noise word.")
    if name == "grad_u_true":
        return " ∂ℓ/∂u_o = (σ(u_o·v) − 1)·v."
    if name == "grad_u_noise":
        return " ∂ℓ/∂u_k = σ(u_k·v)·v, one row per noise word (shape (K, d))."
    return ""


def check_negative_sampling(loss_and_gradients):
    """Check ``loss_and_gradients(v, u_true, u_noise) -> (loss, grad_v, grad_u_true, grad_u_noise)``.

    ``v`` (d,): the centre word's input vector; ``u_true`` (d,): the output vector of the true
    context word; ``u_noise`` (K, d): the output vectors of K noise words; all NumPy float64. The loss
    is ``−log σ(u_true·v) − Σ_k log σ(−u_k·v)``; the gradients have the shapes of ``v``, ``u_true``
    and ``u_noise``. Compared with ``negative_sampling_loss`` and JAX's autodiff on several inputs.
    """
    if not callable(loss_and_gradients):
        return failed(f"expected a function loss_and_gradients(v, u_true, u_noise), got {type(loss_and_gradients).__name__}")
    for case in _cases() + [_LARGE]:
        description, v, u_true, u_noise = case
        with np.errstate(all="ignore"):
            answer, problem = call_safely(loss_and_gradients, v.copy(), u_true.copy(), u_noise.copy())
        if problem is not None:
            return failed(f"on {description}: {problem.message}")
        if not isinstance(answer, (tuple, list)) or len(answer) != 4:
            return failed(f"on {description} your function returned {type(answer).__name__} {answer!r:.80}; "
                          "expected a tuple of 4: (loss, grad_v, grad_u_true, grad_u_noise)")
        expected = reference(v, u_true, u_noise)
        shapes = [(), v.shape, u_true.shape, u_noise.shape]
        for name, got, want, shape in zip(NAMES, answer, expected, shapes):
            try:
                got = np.asarray(got, dtype=np.float64)
            except (TypeError, ValueError):
                return failed(f"on {description} your {name} is {type(got).__name__}, expected numbers")
            if name == "loss" and got.size == 1:
                got = got.reshape(())
            if got.shape != shape:
                return failed(f"on {description} your {name} has shape {got.shape}, expected {shape}"
                              + (" (one row per noise word)" if name == "grad_u_noise" else ""))
            if not np.all(np.isfinite(got)):
                hint = ""
                if case is _LARGE:
                    hint = (" There σ(x) rounds to 0 or 1, so log σ(x) becomes log 0. Use log σ(x) = −log(1 + e^(−x)) "
                            "= −np.logaddexp(0, −x).")
                return failed(f"on {description} your {name} is not finite ({got}).{hint}")
            if not np.allclose(got, want, rtol=1e-4, atol=1e-6):
                shown = f"{float(got):.6g}, expected {float(want):.6g}" if name == "loss" else \
                    f"{np.round(got, 4).tolist()}, expected {np.round(want, 4).tolist()}"
                hint = _hint(name, got, want) if name != "loss" else (
                    " The loss is −log σ(u_true·v) − Σ_k log σ(−u_k·v): note the minus sign inside the noise terms."
                    if case is not _LARGE else " Compute log σ(x) as −np.logaddexp(0, −x) to keep precision.")
                return failed(f"on {description} your {name} is {shown}.{hint}")
    return passed("your loss and all three gradients match the package's negative_sampling_loss and JAX's autodiff.")

