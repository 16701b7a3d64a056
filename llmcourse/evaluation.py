"""Measuring models: accuracy, cross-validation folds, and (from chapter 5) bits per character.

Chapter 2's whole experiment — hand-written rules against learned weights, cross-validated, with a
learning curve — is ``compare_rules_and_learning``, so the notebook and its tests share one code path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmcourse.models.linear import BagOfWords, train_logistic_regression
from llmcourse.models.rules import KeywordRules, as_sentence_list


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
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an int >= 2 for cross-validation, got {k!r}")
    if n < k:
        raise ValueError(f"cannot make {k} folds from {n} examples")
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(n)
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        # shuffle within each class, then deal the classes out one after the other, round robin
        order = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)])
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.arange(n) % k
    return [(np.flatnonzero(fold_of != i), np.flatnonzero(fold_of == i)) for i in range(k)]


# --------------------------------------------------------------------------- chapter 2
METHODS = ("rules", "keywords", "words", "words+keywords")
METHOD_DESCRIPTIONS = {
    "rules": "hand-written rule: keyword counts with fixed weights +1/−1",
    "keywords": "logistic regression on the 2 keyword counts (learned weights)",
    "words": "logistic regression on bag-of-words presence features",
    "words+keywords": "logistic regression on bag-of-words + the 2 keyword counts",
}


@dataclass(frozen=True)
class HeldOut:
    """One method's cross-validated results."""

    name: str
    predictions: np.ndarray  # (repeats, n): each sentence's prediction while it was held out
    fold_accuracy: np.ndarray  # (repeats * folds,): held-out accuracy of every fold
    train_accuracy: float  # mean accuracy on the sentences the method was trained on

    def accuracy(self, labels) -> float:
        """Share of all held-out predictions (every sentence, every repeat) that were right."""
        return float(np.mean(self.predictions == np.asarray(labels)[None, :]))


@dataclass(frozen=True)
class RulesVsLearning:
    """What ``compare_rules_and_learning`` measured."""

    labels: np.ndarray  # (n,)
    folds: int
    repeats: int
    methods: dict  # name -> HeldOut, for every name in METHODS
    curve_sizes: np.ndarray  # (points,) mean number of training sentences at each learning-curve point
    curve_accuracy: dict  # learned method name -> (points,) held-out accuracy at each size
    unseen_share: float  # mean share of a held-out sentence's distinct words missing from the training vocabulary

    def accuracy(self, name: str) -> float:
        """Held-out accuracy of method ``name`` (one of METHODS)."""
        if name not in self.methods:
            raise KeyError(f"unknown method {name!r}; methods: {', '.join(self.methods)}")
        return self.methods[name].accuracy(self.labels)


def stratified_subset(index, labels, fraction: float, rng) -> np.ndarray:
    """About ``fraction`` of ``index``, with each class's share kept (sorted indices)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    index, labels = np.asarray(index), np.asarray(labels)
    parts = []
    for c in np.unique(labels[index]):
        members = rng.permutation(index[labels[index] == c])
        parts.append(members[: max(1, round(fraction * len(members)))])
    return np.sort(np.concatenate(parts))


def compare_rules_and_learning(sentences, labels, cfg, rules=None) -> RulesVsLearning:
    """Chapter 2's experiment: the keyword rules against three learned models, on held-out sentences.

    Stratified ``cfg.logreg_folds``-fold cross-validation, repeated ``cfg.logreg_repeats`` times with
    seeds ``cfg.seed``, ``cfg.seed + 1``, ...; every learned model is trained with
    ``train_logistic_regression(x, y, cfg.logreg_steps, cfg.logreg_learning_rate)`` on its fold's
    training sentences only (vocabulary included). The learning curve trains the same models on
    class-balanced subsets of each training fold — ``1/points, 2/points, ..., 1`` of it — and tests
    on the same held-out fold; its last point is the full comparison.
    """
    sentences = as_sentence_list(sentences)
    labels = np.asarray(labels)
    n = len(sentences)
    if n == 0:
        raise ValueError("cannot compare methods on an empty list of sentences")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match the sentences, got {labels.shape}")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError(f"labels must be 0/1, got values {np.unique(labels)[:10]}")
    rules = KeywordRules() if rules is None else rules
    folds, repeats, points = cfg.logreg_folds, cfg.logreg_repeats, cfg.logreg_curve_points
    fractions = [(i + 1) / points for i in range(points)]
    learned = METHODS[1:]

    rule_predictions = rules.predict(sentences)
    keyword_features = rules.keyword_counts(sentences)  # (n, 2)
    predictions = {m: np.zeros((repeats, n), dtype=np.int32) for m in METHODS}
    fold_accuracy = {m: [] for m in METHODS}
    train_accuracy = {m: [] for m in METHODS}
    curve_correct = {m: np.zeros(points) for m in learned}
    curve_total = np.zeros(points)
    curve_size = np.zeros(points)
    unseen = []

    for repeat in range(repeats):
        seed = cfg.seed + repeat
        for fold, (train, test) in enumerate(kfold_splits(n, folds, seed=seed, labels=labels)):
            rng = np.random.default_rng([seed, fold])
            for point, fraction in enumerate(fractions):
                subset = train if fraction == 1 else stratified_subset(train, labels, fraction, rng)
                bag = BagOfWords([sentences[i] for i in subset])
                bag_train = bag.transform([sentences[i] for i in subset])
                bag_test = bag.transform([sentences[i] for i in test])
                features = {
                    "keywords": (keyword_features[subset], keyword_features[test]),
                    "words": (bag_train, bag_test),
                    "words+keywords": (np.hstack([keyword_features[subset], bag_train]),
                                       np.hstack([keyword_features[test], bag_test])),
                }
                curve_total[point] += len(test)
                curve_size[point] += len(subset) / (repeats * folds)
                for name, (x_train, x_test) in features.items():
                    model = train_logistic_regression(x_train, labels[subset], cfg.logreg_steps,
                                                      cfg.logreg_learning_rate)
                    predicted = model.predict(x_test)
                    curve_correct[name][point] += np.sum(predicted == labels[test])
                    if fraction == 1:
                        predictions[name][repeat, test] = predicted
                        fold_accuracy[name].append(accuracy(predicted, labels[test]))
                        train_accuracy[name].append(accuracy(model.predict(x_train), labels[subset]))
                if fraction == 1:
                    unseen.extend(bag.unseen_share(sentences[i]) for i in test)
            predictions["rules"][repeat, test] = rule_predictions[test]
            fold_accuracy["rules"].append(accuracy(rule_predictions[test], labels[test]))
            train_accuracy["rules"].append(accuracy(rule_predictions[train], labels[train]))

    methods = {
        m: HeldOut(m, predictions[m], np.asarray(fold_accuracy[m]), float(np.mean(train_accuracy[m])))
        for m in METHODS
    }
    return RulesVsLearning(
        labels=labels, folds=folds, repeats=repeats, methods=methods, curve_sizes=curve_size,
        curve_accuracy={m: curve_correct[m] / curve_total for m in learned},
        unseen_share=float(np.mean(unseen)),
    )
