r"""Machine learning with features chosen by people: bag-of-words + logistic regression in JAX.

A person decides *what* the model looks at (which words, counted how); the training decides *how
much* each feature counts. The model is

.. math:: p(\text{positive} \mid x) = \sigma(w^\top x + b), \qquad \sigma(z) = \frac{1}{1 + e^{-z}}

trained by minimising the mean binary cross-entropy plus an optional L2 penalty ``l2 * ||w||^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.feature_extraction.text import CountVectorizer

from llmcourse.models.rules import as_sentence_list
from llmcourse.tokenizers import words

# The compiled training loop is specialised to the shape of ``x``. Vocabularies differ from one
# training set to the next, so the feature axis is padded with zero columns up to a multiple of this:
# one compiled loop then serves many vocabularies. A zero column has zero gradient, so its weight
# stays exactly 0 (with or without L2, with Adam) and is dropped after training.
FEATURE_BUCKET = 512


class BagOfWords:
    """Word-presence features: ``x[j] = 1`` when vocabulary word ``j`` occurs in the sentence.

    The vocabulary is every word that occurs in at least ``min_count`` of the sentences it is built
    from (the training sentences only, so held-out sentences stay unseen), in sorted order. Unknown
    words are ignored: a bag of words cannot use what it never saw. Word order is lost — hence "bag".

    The counting is scikit-learn's ``CountVectorizer(binary=True)`` with the book's ``words`` rule
    as its tokenizer (``words`` lower-cases; the vectorizer's own lower-casing and token pattern are
    off), so the words are exactly those chapter 1 splits a sentence into.
    """

    def __init__(self, sentences: list[str], min_count: int = 1):
        sentences = as_sentence_list(sentences)
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an int >= 1, got {min_count!r}")
        if len(sentences) == 0:
            raise ValueError("cannot build a vocabulary from an empty list of sentences")
        self._vectorizer = CountVectorizer(tokenizer=words, lowercase=False, token_pattern=None, binary=True,
                                           min_df=min_count, dtype=np.float32)
        try:
            self._vectorizer.fit(sentences)
        except ValueError as err:  # scikit-learn's "empty vocabulary" / "no terms remain" / "max_df < min_df"
            raise ValueError(f"no word occurs in at least min_count={min_count} sentences") from err
        self.vocabulary: list[str] = self._vectorizer.get_feature_names_out().tolist()
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.vocabulary)}

    def __len__(self) -> int:
        return len(self.vocabulary)

    def transform(self, sentences: list[str]) -> np.ndarray:
        """(n_sentences, vocabulary size) float32 matrix of 0/1 features."""
        sentences = as_sentence_list(sentences)
        return self._vectorizer.transform(sentences).toarray()

    def unseen_share(self, sentence: str) -> float:
        """Share of the sentence's distinct words that are not in the vocabulary (0 for no words)."""
        distinct = set(words(sentence))
        return sum(w not in self.index for w in distinct) / len(distinct) if distinct else 0.0


@dataclass(frozen=True)
class LogisticRegression:
    """A trained model: ``weights`` (n_features,), ``bias``, and the loss after each training step.

    Training runs in JAX; the trained numbers are kept as NumPy arrays, so predicting is plain NumPy
    (no compilation for each new input shape).
    """

    weights: np.ndarray  # (n_features,)
    bias: float
    losses: np.ndarray  # (steps,) training loss (cross-entropy + penalty) before each update
    eval_losses: np.ndarray | None = None  # (steps,) cross-entropy on (x_eval, y_eval), same moments

    def logits(self, x) -> np.ndarray:
        """z = x w + b for each row of ``x``: (examples,)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise ValueError(
                f"x must have shape (examples, {self.weights.shape[0]}) for this model, got {x.shape}"
            )
        return x @ self.weights + self.bias

    def predict_proba(self, x) -> np.ndarray:
        """p(positive | x) = sigmoid(z) for each row of ``x``."""
        return 0.5 * (1.0 + np.tanh(0.5 * self.logits(x)))  # = 1 / (1 + e^-z), without overflow

    def predict(self, x) -> np.ndarray:
        """1 where p(positive | x) > 0.5 (the logit is > 0), else 0."""
        return (self.logits(x) > 0).astype(np.int32)

    def largest_weights(self, names: list[str], k: int = 10):
        """The ``k`` most positive and the ``k`` most negative weights as two lists of (name, weight)."""
        weights = np.asarray(self.weights)
        if len(names) != weights.shape[0]:
            raise ValueError(f"need one name per weight: {weights.shape[0]} weights, {len(names)} names")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        order = np.argsort(weights, kind="stable")
        most_positive = [(names[j], float(weights[j])) for j in order[::-1][:k]]
        most_negative = [(names[j], float(weights[j])) for j in order[:k]]
        return most_positive, most_negative


def logistic_loss(params, x, y, l2=0.0):
    r"""Mean binary cross-entropy of :math:`p = \sigma(z)`, :math:`z = x w + b`, plus ``l2 * ||w||^2``.

    For one example with label :math:`y \in \{0, 1\}` the cross-entropy is

    .. math:: -\big[y \log \sigma(z) + (1 - y) \log (1 - \sigma(z))\big] = \log(1 + e^{z}) - y z

    and the right-hand side is what we compute: ``softplus(z) = log(1 + e^z)`` stays finite for
    large :math:`|z|`, where :math:`\log \sigma(z)` would round to :math:`\log 0`.
    """
    logits = x @ params["w"] + params["b"]  # (examples,)
    cross_entropy = jnp.mean(jax.nn.softplus(logits) - y * logits)
    return cross_entropy + l2 * jnp.sum(params["w"] ** 2)


def train_logistic_regression(x, y, steps: int, learning_rate: float = 0.05, l2: float = 0.0,
                              x_eval=None, y_eval=None) -> LogisticRegression:
    """Fit ``w`` and ``b`` from zero by full-batch Adam on ``logistic_loss``; one compiled ``lax.scan``.

    ``x`` is (examples, features), ``y`` holds 0/1 labels. With ``x_eval``/``y_eval`` (held-out
    examples, never trained on) their cross-entropy is recorded at every step too, for the same
    weights as the training loss: both curves start at log 2, the loss of w = 0, b = 0.
    """
    x, y = _check_xy(x, y, "x", "y")
    if (x_eval is None) != (y_eval is None):
        raise ValueError("give both x_eval and y_eval, or neither")
    if x_eval is not None:
        x_eval, y_eval = _check_xy(x_eval, y_eval, "x_eval", "y_eval")
        if x_eval.shape[1] != x.shape[1]:
            raise ValueError(f"x_eval has {x_eval.shape[1]} features but x has {x.shape[1]}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    n_features = x.shape[1]
    padded = -(-n_features // FEATURE_BUCKET) * FEATURE_BUCKET  # round up to the bucket

    def pad(a):  # NumPy, not jnp: eager JAX ops would compile again for every new shape
        return None if a is None else np.pad(a, ((0, 0), (0, padded - n_features)))

    params = {"w": jnp.zeros(padded), "b": jnp.zeros(())}
    params, losses, eval_losses = _fit(params, pad(x), y, pad(x_eval), y_eval,
                                       int(steps), float(learning_rate), float(l2))
    return LogisticRegression(np.asarray(params["w"])[:n_features], float(params["b"]), np.asarray(losses),
                              None if eval_losses is None else np.asarray(eval_losses))


@jax.jit(static_argnames=("steps",))
def _fit(params, x, y, x_eval, y_eval, steps, learning_rate, l2):
    """``steps`` Adam updates; returns the final params and the losses before each update."""
    tx = optax.adam(learning_rate)

    def step(carry, _):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(logistic_loss)(params, x, y, l2)
        eval_loss = None if x_eval is None else logistic_loss(params, x_eval, y_eval)  # same params as `loss`
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, eval_loss)

    (params, _), (losses, eval_losses) = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params, losses, eval_losses


def _check_xy(x, y, x_name: str, y_name: str):
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"{x_name} must be a 2-D (examples, features) matrix, got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{x_name} must have at least one example and one feature, got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{y_name} must have shape ({x.shape[0]},) to match {x_name} {x.shape}, got {y.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{x_name} contains NaN or infinite values")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{y_name} must hold 0/1 labels, got values {np.unique(y)[:10]}")
    return x, y.astype(np.float32)
