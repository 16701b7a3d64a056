"""Machine learning with features chosen by people: bag-of-words + logistic regression in JAX.

A person decides *what* the model looks at (which words, counted how); the training decides *how
much* each feature counts. The model is

.. math:: p(\\text{positive} \\mid x) = \\sigma(w^\\top x + b), \\qquad \\sigma(z) = \\frac{1}{1 + e^{-z}}

trained by minimising the mean binary cross-entropy plus an L2 penalty ``l2 * ||w||^2``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from llmcourse.tokenizers import words


class BagOfWords:
    """Word-presence features: ``x[j] = 1`` when vocabulary word ``j`` occurs in the sentence.

    The vocabulary is every word seen at least ``min_count`` times in the sentences it is built from
    (the training sentences only, so held-out sentences stay unseen). Unknown words are ignored:
    a bag of words cannot use what it never saw.
    """

    def __init__(self, sentences: list[str], min_count: int = 1):
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if len(sentences) == 0:
            raise ValueError("cannot build a vocabulary from an empty list of sentences")
        counts = Counter(w for s in sentences for w in set(words(s)))
        self.vocabulary = sorted(w for w, c in counts.items() if c >= min_count)
        if not self.vocabulary:
            raise ValueError(f"no word occurs in at least min_count={min_count} sentences")
        self.index = {w: i for i, w in enumerate(self.vocabulary)}

    def __len__(self) -> int:
        return len(self.vocabulary)

    def transform(self, sentences: list[str]) -> np.ndarray:
        """(n_sentences, vocabulary size) float32 matrix of 0/1 features."""
        x = np.zeros((len(sentences), len(self.vocabulary)), dtype=np.float32)
        for row, sentence in enumerate(sentences):
            for w in words(sentence):
                j = self.index.get(w)
                if j is not None:
                    x[row, j] = 1.0
        return x


@dataclass(frozen=True)
class LogisticRegression:
    weights: jax.Array  # (n_features,)
    bias: jax.Array  # ()
    losses: np.ndarray  # training loss after each step

    def logits(self, x) -> jax.Array:
        return jnp.asarray(x) @ self.weights + self.bias

    def predict_proba(self, x) -> np.ndarray:
        return np.asarray(jax.nn.sigmoid(self.logits(x)))

    def predict(self, x) -> np.ndarray:
        return (np.asarray(self.logits(x)) > 0).astype(np.int32)


def logistic_loss(params, x, y, l2):
    """Mean binary cross-entropy of ``sigmoid(x @ w + b)`` against ``y``, plus ``l2 * ||w||^2``."""
    logits = x @ params["w"] + params["b"]
    data_loss = optax.sigmoid_binary_cross_entropy(logits, y).mean()
    return data_loss + l2 * jnp.sum(params["w"] ** 2)


def train_logistic_regression(x, y, steps: int, learning_rate: float = 0.5, l2: float = 1e-3) -> LogisticRegression:
    """Full-batch Adam on the logistic loss; the whole loop is one compiled ``lax.scan``."""
    x = jnp.asarray(x, dtype=jnp.float32)
    y = jnp.asarray(y, dtype=jnp.float32)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (examples, features) matrix, got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x {x.shape}, got {y.shape}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    params = {"w": jnp.zeros(x.shape[1]), "b": jnp.zeros(())}
    params, losses = _fit(params, x, y, steps, learning_rate, l2)
    return LogisticRegression(params["w"], params["b"], np.asarray(losses))


@jax.jit(static_argnames=("steps",))
def _fit(params, x, y, steps, learning_rate, l2):
    tx = optax.adam(learning_rate)

    def step(carry, _):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(logistic_loss)(params, x, y, l2)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params, losses
