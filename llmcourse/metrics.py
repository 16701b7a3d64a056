"""Measuring models: accuracy, cross-validation folds, cross-entropy, perplexity and bits per
character. NumPy and scikit-learn, no model code: every layer above may use these.

* ``accuracy`` and the folds of chapter 2's cross-validation (``kfold_splits``, ``stratified_subset``:
  scikit-learn's stratified splits behind the book's names and checks);
* ``cross_entropy``, ``perplexity`` and ``bits_per_char`` (chapter 5): how well a language model
  predicts held-out text, from the log-probabilities it gave what actually came next.
"""

from __future__ import annotations

import math

import numpy as np


def accuracy(predicted, target) -> float:
    """Fraction of positions where ``predicted == target`` (both 1-D, same length)."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape or predicted.ndim != 1:
        raise ValueError(
            f"accuracy needs two 1-D arrays of the same length, got shapes {predicted.shape} and {target.shape}"
        )
    if predicted.size == 0:
        raise ValueError("accuracy of zero examples is undefined")
    return float(np.mean(predicted == target))


def kfold_splits(n: int, k: int, seed: int = 0, labels=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train_index, test_index) pairs: every example is held out exactly once.

    With ``labels`` the folds are *stratified*: each class is dealt out evenly over the folds, so
    every fold has (nearly) the class shares of the whole data set. On a 100/100 data set this
    matters: a fold with more positives leaves a training set with more negatives, and a model that
    leans towards its training majority is then punished for it — below-chance accuracy that says
    nothing about the model.

    The split itself is scikit-learn's (``StratifiedKFold``, or ``KFold`` without labels), shuffled
    with ``seed``; both index arrays of a pair are sorted.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an int >= 2 for cross-validation, got {k!r}")
    if n < k:
        raise ValueError(f"cannot make {k} folds from {n} examples")
    _check_seed(seed)
    # imported here, not at the top: scikit-learn takes a second to import, and the language-model
    # chapters that use this module's other measures do not need it
    from sklearn.model_selection import KFold, StratifiedKFold

    if labels is None:
        folds = KFold(n_splits=int(k), shuffle=True, random_state=int(seed))
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        folds = StratifiedKFold(n_splits=int(k), shuffle=True, random_state=int(seed))
    return list(folds.split(np.zeros((n, 1)), labels))


def stratified_subset(index, labels, fraction: float, rng) -> np.ndarray:
    """About ``fraction`` of ``index``, with each class's share kept (sorted indices).

    ``labels`` is indexed by the entries of ``index``; ``rng`` (a NumPy ``Generator``) seeds
    scikit-learn's stratified ``train_test_split``, which draws the subset.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    index, labels = np.asarray(index), np.asarray(labels)
    if fraction == 1:
        return np.sort(index)
    from sklearn.model_selection import train_test_split  # see kfold_splits

    subset, _ = train_test_split(index, train_size=float(fraction), stratify=labels[index],
                                 random_state=int(rng.integers(2**32)))
    return np.sort(subset)


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")


# --------------------------------------------------------------------------- language models
def _check_log_probs(log_probs) -> np.ndarray:
    log_probs = np.asarray(log_probs, dtype=np.float64).reshape(-1)
    if log_probs.size == 0:
        raise ValueError("need the log-probability of at least one token")
    if np.isnan(log_probs).any():
        raise ValueError("log-probabilities contain NaN")
    if (log_probs > 1e-9).any():
        raise ValueError(f"log-probabilities must be <= 0 (a probability is at most 1), got a maximum of "
                         f"{log_probs.max():.4g} — did you pass probabilities instead of their logarithms?")
    return log_probs


def cross_entropy(log_probs) -> float:
    r"""Cross-entropy in nats per token from the natural-log probabilities the model gave each
    actual next token:

    .. math:: H = -\frac{1}{N} \sum_{t=1}^{N} \ln P(x_t \mid x_{<t})

    A token given probability 0 (log-probability :math:`-\infty`) makes :math:`H` infinite: the
    model ruled out something that happened.
    """
    return float(-np.mean(_check_log_probs(log_probs)))


def perplexity(log_probs) -> float:
    r"""Perplexity :math:`e^{H}`: the number of equally likely tokens the model is "as unsure as".

    A uniform model over :math:`V` tokens has perplexity exactly :math:`V`; a model that is always
    sure and always right has perplexity 1.
    """
    return float(np.exp(cross_entropy(log_probs)))


def bits_per_char(log_probs, n_chars: int | None = None) -> float:
    r"""Bits per character: total information in bits divided by the number of characters.

    .. math:: \mathrm{bpc} = -\frac{1}{C} \sum_{t=1}^{N} \log_2 P(x_t \mid x_{<t})
                           = \frac{N}{C} \cdot \frac{H}{\ln 2}

    For a character model every token is one character (:math:`N = C`, the default). A model over
    longer tokens (words, BPE pieces) passes ``n_chars``, the length of the scored text in
    characters, so models with different tokenizers are compared on the same text by the same
    measure. Every character counts, including those the tokenizer maps to an unknown symbol.
    """
    log_probs = _check_log_probs(log_probs)
    if n_chars is None:
        n_chars = log_probs.size
    if isinstance(n_chars, bool) or not isinstance(n_chars, (int, np.integer)) or n_chars < 1:
        raise ValueError(f"n_chars must be an int >= 1, got {n_chars!r}")
    return float(-np.sum(log_probs) / (math.log(2) * n_chars))


def validation_bits_per_char(model, tokenizer, text: str, **scoring) -> float:
    """The scoreboard's measure for a neural language model: the total bits the model needs for
    ``text`` — ``model.log_probs(tokenizer.encode(text), **scoring)``, one natural-log probability
    per token, every token predicted from the ones before it — divided by ``len(text)`` characters.

    The divisor is the text's characters whatever the tokens are: a character model (chapter 7)
    has one token per character, a BPE model (chapter 8) fewer tokens for the same text, and both
    are scored on the same scale. Characters the tokenizer never saw are read as ``<unk>`` and
    must be predicted like any other."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str, got {type(text).__name__} of length {len(text) if isinstance(text, str) else '?'}")
    if not callable(getattr(model, "log_probs", None)):
        raise TypeError(f"{type(model).__name__} has no log_probs(ids) method; the book's language models "
                        "(CharRNN, GPT) have one")
    return bits_per_char(model.log_probs(tokenizer.encode(text), **scoring), n_chars=len(text))
