"""Chapter 2's experiment: hand-written keyword rules against learned weights, cross-validated.

``compare_rules_and_learning`` runs the whole comparison — the rules, and logistic regression on
three kinds of features, on held-out sentences with a learning curve — so the notebook and its
claims share one code path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmcourse.metrics import accuracy, kfold_splits, stratified_subset
from llmcourse.models.linear import BagOfWords, train_logistic_regression
from llmcourse.models.rules import KeywordRules, as_sentence_list

METHODS = ("rules", "keywords", "words", "words+keywords")  # the rules, then three learned models


@dataclass(frozen=True)
class HeldOut:
    """One method's cross-validated results."""

    name: str
    predictions: np.ndarray  # (repeats, n): each sentence's prediction while it was held out
    fold_accuracy: np.ndarray  # (repeats * folds,): held-out accuracy of every fold
    train_accuracy: float  # mean accuracy on the sentences the method was trained on

    def accuracy(self, labels, where=None) -> float:
        """Share of held-out predictions (every sentence, every repeat) that were right; with
        ``where`` (a boolean mask over the sentences) only those sentences count."""
        correct = self.predictions == np.asarray(labels)[None, :]  # (repeats, n)
        if where is not None:
            where = np.asarray(where, dtype=bool)
            if where.shape != (correct.shape[1],):
                raise ValueError(f"where must be a boolean mask of shape ({correct.shape[1]},), got {where.shape}")
            if not where.any():
                raise ValueError("where selects no sentence: accuracy of zero examples is undefined")
            correct = correct[:, where]
        return float(np.mean(correct))


@dataclass(frozen=True)
class RulesVsLearning:
    """What ``compare_rules_and_learning`` measured."""

    labels: np.ndarray  # (n,)
    silent: np.ndarray  # (n,) True where the rules found no keyword decision (score 0) and guessed
    folds: int
    repeats: int
    methods: dict  # name -> HeldOut, for every name in METHODS
    curve_sizes: np.ndarray  # (points,) mean number of training sentences at each learning-curve point
    curve_accuracy: dict  # learned method name -> (points,) held-out accuracy at each size

    def accuracy(self, name: str, where=None) -> float:
        """Held-out accuracy of method ``name`` (one of METHODS), on the sentences ``where`` selects
        (all when None; e.g. ``where=result.silent`` for those the rules had to guess)."""
        if name not in self.methods:
            raise KeyError(f"unknown method {name!r}; methods: {', '.join(self.methods)}")
        return self.methods[name].accuracy(self.labels, where)


def compare_rules_and_learning(sentences, labels, cfg, rules=None) -> RulesVsLearning:
    """Chapter 2's experiment: the keyword rules against three learned models, on held-out sentences.

    Stratified ``cfg.logreg.folds``-fold cross-validation, repeated ``cfg.logreg.repeats`` times with
    seeds ``cfg.seed``, ``cfg.seed + 1``, ...; every learned model is trained with
    ``train_logistic_regression(x, y, cfg.logreg.steps, cfg.logreg.learning_rate)`` on its fold's
    training sentences only (vocabulary included). The learning curve trains the same models on
    class-balanced subsets of each training fold — ``1/2**(points-1), ..., 1/4, 1/2, 1`` of it, so
    the training set doubles from point to point — and tests on the same held-out fold; its last
    point is the full comparison.
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
    folds, repeats, points = cfg.logreg.folds, cfg.logreg.repeats, cfg.logreg.curve_points
    fractions = [2.0 ** (i + 1 - points) for i in range(points)]  # ..., 1/4, 1/2, 1: doubling
    learned = METHODS[1:]

    rule_predictions = rules.predict(sentences)
    keyword_features = rules.keyword_counts(sentences)  # (n, 2)
    predictions = {m: np.zeros((repeats, n), dtype=np.int32) for m in METHODS}
    fold_accuracy = {m: [] for m in METHODS}
    train_accuracy = {m: [] for m in METHODS}
    curve_correct = {m: np.zeros(points) for m in learned}
    curve_total = np.zeros(points)
    curve_size = np.zeros(points)

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
                    model = train_logistic_regression(x_train, labels[subset], cfg.logreg.steps,
                                                      cfg.logreg.learning_rate)
                    predicted = model.predict(x_test)
                    curve_correct[name][point] += np.sum(predicted == labels[test])
                    if fraction == 1:
                        predictions[name][repeat, test] = predicted
                        fold_accuracy[name].append(accuracy(predicted, labels[test]))
                        train_accuracy[name].append(accuracy(model.predict(x_train), labels[subset]))
            predictions["rules"][repeat, test] = rule_predictions[test]
            fold_accuracy["rules"].append(accuracy(rule_predictions[test], labels[test]))
            train_accuracy["rules"].append(accuracy(rule_predictions[train], labels[train]))

    methods = {
        m: HeldOut(m, predictions[m], np.asarray(fold_accuracy[m]), float(np.mean(train_accuracy[m])))
        for m in METHODS
    }
    return RulesVsLearning(
        labels=labels, silent=rules.undecided(sentences), folds=folds, repeats=repeats, methods=methods, curve_sizes=curve_size,
        curve_accuracy={m: curve_correct[m] / curve_total for m in learned},
    )
