"""Chapter 2: keyword rules, bag of words, logistic regression, cross-validation and the exercise
checker. The claims of the chapter's prose are asserted on the executed book in
tests/test_claims_ch02.py."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from llmcourse.config import preset
from llmcourse.data import polarity_sentences
from llmcourse.exercises import ch02
from llmcourse.experiments.rules_and_learning import METHODS, compare_rules_and_learning
from llmcourse.metrics import accuracy, kfold_splits, stratified_subset
from llmcourse.models.linear import BagOfWords, LogisticRegression, logistic_loss, train_logistic_regression
from llmcourse.models.rules import NEGATIVE_WORDS, POSITIVE_WORDS, KeywordRules
from llmcourse.tokenizers import words

LOG2 = float(np.log(2))


# --------------------------------------------------------------------------- rules
def test_keyword_lists_are_disjoint_and_negations_are_not_keywords():
    assert not POSITIVE_WORDS & NEGATIVE_WORDS
    rules = KeywordRules()
    assert not rules.negations & (rules.positive | rules.negative)


@pytest.mark.parametrize("sentence, counts", [
    ("A clever, funny and moving film.", (3, 0)),
    ("Not good, and far too long.", (0, 1)),
    ("The film runs two hours.", (0, 0)),
    ("Not bad at all, and never boring.", (2, 0)),  # exercise ex02-predict-rule, part 1
    ("Not only clever but also funny.", (1, 1)),  # part 2: a tie, so the rule guesses
    ("it isn't boring", (1, 0)),
])
def test_counts_with_negation(sentence, counts):
    rules = KeywordRules()
    assert rules.counts(sentence) == counts
    assert rules.score(sentence) == counts[0] - counts[1]


def test_negation_flips_only_the_next_keyword():
    rules = KeywordRules()
    assert rules.counts("not good but great") == (1, 1)
    assert rules.counts("not") == (0, 0)


def test_predict_and_undecided_use_the_default_guess():
    sentences = ["great fun", "a dull mess", "two hours long", "Not only clever but also funny."]
    assert KeywordRules().predict(sentences).tolist() == [1, 0, 1, 1]
    assert KeywordRules(default=0).predict(sentences).tolist() == [1, 0, 0, 0]
    assert KeywordRules().undecided(sentences).tolist() == [False, False, True, True]
    assert KeywordRules().predict(sentences).dtype == np.int32


def test_keyword_counts_features():
    x = KeywordRules().keyword_counts(["great fun", "not great", "nothing"])
    assert x.shape == (3, 2) and x.dtype == np.float32
    assert x.tolist() == [[2, 0], [0, 1], [0, 0]]
    assert KeywordRules().keyword_counts([]).shape == (0, 2)


def test_rules_reject_bad_input():
    with pytest.raises(ValueError, match="default must be 0 .* or 1"):
        KeywordRules(default=2)
    with pytest.raises(ValueError, match="both positive and negative.*'fine'"):
        KeywordRules(positive=frozenset({"fine"}), negative=frozenset({"fine", "bad"}))
    with pytest.raises(TypeError, match="list of sentences, got a single str"):
        KeywordRules().predict("a single sentence")
    with pytest.raises(TypeError, match="expects a str"):
        KeywordRules().counts(42)


# --------------------------------------------------------------------------- bag of words
def test_bag_of_words_marks_presence_and_ignores_unknown_words():
    bag = BagOfWords(["good film", "bad film , bad"])
    assert bag.vocabulary == [",", "bad", "film", "good"] and len(bag) == 4
    x = bag.transform(["bad bad film", "unknown words only", "GOOD"])
    assert x.dtype == np.float32 and x.shape == (3, 4)
    assert x.tolist() == [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]  # presence, not counts
    assert bag.unseen_share("good unknown") == 0.5
    assert bag.unseen_share("") == 0.0


def test_bag_of_words_min_count():
    bag = BagOfWords(["a b", "a c", "a b"], min_count=2)
    assert bag.vocabulary == ["a", "b"]


def test_bag_of_words_features_are_the_words_rule():
    """scikit-learn's CountVectorizer does the counting: its vocabulary and 0/1 features must be
    exactly those of splitting each sentence with the book's ``words`` rule."""
    sentences = polarity_sentences().sentences
    train, test = sentences[:150], sentences[150:]
    for min_count in (1, 2):
        bag = BagOfWords(train, min_count=min_count)
        in_sentences = Counter(w for s in train for w in set(words(s)))
        assert bag.vocabulary == sorted(w for w, c in in_sentences.items() if c >= min_count)
        expected = [[float(w in set(words(s))) for w in bag.vocabulary] for s in test]
        assert bag.transform(test).tolist() == expected
    assert BagOfWords(["a b"]).transform([]).shape == (0, 2)


def test_bag_of_words_rejects_bad_input():
    with pytest.raises(ValueError, match="empty list of sentences"):
        BagOfWords([])
    with pytest.raises(ValueError, match="min_count must be an int >= 1"):
        BagOfWords(["a"], min_count=0)
    with pytest.raises(ValueError, match="no word occurs in at least min_count=3"):
        BagOfWords(["a", "b"], min_count=3)
    with pytest.raises(TypeError, match="single str"):
        BagOfWords("just one sentence")
    with pytest.raises(TypeError, match="single str"):
        BagOfWords(["a"]).transform("a")


# --------------------------------------------------------------------------- logistic regression
def _naive_cross_entropy(w, b, x, y):
    p = 1 / (1 + np.exp(-(x @ w + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_logistic_loss_is_the_cross_entropy_and_stays_finite():
    rng = np.random.default_rng(0)
    x, w, y = rng.normal(size=(7, 3)), rng.normal(size=3), rng.integers(0, 2, 7)
    params = {"w": w.astype(np.float32), "b": np.float32(0.3)}
    loss = float(logistic_loss(params, x.astype(np.float32), y.astype(np.float32)))
    assert loss == pytest.approx(_naive_cross_entropy(w, 0.3, x, y), rel=1e-5)
    penalised = float(logistic_loss(params, x.astype(np.float32), y.astype(np.float32), l2=0.1))
    assert penalised == pytest.approx(loss + 0.1 * np.sum(w**2), rel=1e-5)
    # scores of ±60: a naive log(sigmoid) gives inf; the stable form gives exactly 60
    big = {"w": np.array([30.0, -30.0], np.float32), "b": np.float32(0)}
    x_big, y_big = np.array([[2, 0], [0, 2]], np.float32), np.array([0, 1], np.float32)
    assert float(logistic_loss(big, x_big, y_big)) == pytest.approx(60.0)


def test_training_starts_at_log2_and_learns_separable_data():
    x = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
    y = np.array([1, 1, 0, 0])
    model = train_logistic_regression(x, y, steps=50, learning_rate=0.1)
    assert isinstance(model, LogisticRegression)
    assert model.losses.shape == (50,) and model.eval_losses is None
    assert model.losses[0] == pytest.approx(LOG2, rel=1e-6)  # w = 0, b = 0: p = 0.5 everywhere
    assert model.losses[-1] < model.losses[0] / 2
    assert model.predict(x).tolist() == [1, 1, 0, 0]
    assert model.weights[0] > 0 > model.weights[1]
    proba = model.predict_proba(x)
    assert np.all((proba > 0.5) == (model.predict(x) == 1))


def test_training_agrees_with_scikit_learn():
    """The chapter builds logistic regression by hand (``logistic_loss``, ``_fit``): trained to
    convergence with an L2 penalty it must find scikit-learn's solution. Ours minimises
    mean cross-entropy + l2 * ||w||^2; scikit-learn 0.5 * ||w||^2 + C * (summed cross-entropy), the
    same minimum for C = 1 / (2 n l2); neither penalises the bias."""
    from sklearn.linear_model import LogisticRegression as ScikitLogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5, 0.0]) + 0.3 + rng.normal(size=60) > 0).astype(np.float32)
    l2 = 0.05
    ours = train_logistic_regression(x, y, steps=3000, learning_rate=0.05, l2=l2)
    theirs = ScikitLogisticRegression(C=1 / (2 * len(y) * l2), tol=1e-10, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(ours.weights, theirs.coef_[0], atol=2e-3)
    assert ours.bias == pytest.approx(theirs.intercept_[0], abs=2e-3)
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x)[:, 1], atol=1e-3)


def test_eval_losses_are_recorded_without_training_on_them():
    x = np.array([[1, 0], [0, 1]], np.float32)
    y = np.array([1, 0])
    plain = train_logistic_regression(x, y, steps=20)
    with_eval = train_logistic_regression(x, y, steps=20, x_eval=x[::-1], y_eval=y)
    np.testing.assert_allclose(plain.weights, with_eval.weights)
    assert with_eval.eval_losses.shape == (20,)
    assert with_eval.eval_losses[0] == pytest.approx(LOG2, rel=1e-6)


def test_padding_the_feature_axis_does_not_change_the_model():
    """train_logistic_regression pads features to a bucket; extra zero columns must stay at 0."""
    rng = np.random.default_rng(1)
    x = (rng.random((30, 5)) > 0.5).astype(np.float32)
    y = rng.integers(0, 2, 30)
    a = train_logistic_regression(x, y, steps=40, learning_rate=0.05)
    b = train_logistic_regression(np.hstack([x, np.zeros((30, 700), np.float32)]), y, steps=40, learning_rate=0.05)
    assert a.weights.shape == (5,) and b.weights.shape == (705,)
    np.testing.assert_allclose(a.weights, b.weights[:5], rtol=1e-5, atol=1e-6)
    assert np.all(b.weights[5:] == 0)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=np.ones(3), y=np.ones(3)), "2-D"),
    (dict(x=np.ones((3, 2)), y=np.ones(4)), r"shape \(3,\)"),
    (dict(x=np.ones((0, 2)), y=np.ones(0)), "at least one example"),
    (dict(x=np.ones((3, 0)), y=np.ones(3)), "at least one example and one feature"),
    (dict(steps=0), "steps must be an int >= 1"),
    (dict(steps=2.5), "steps must be an int >= 1"),
    (dict(steps=True), "steps must be an int >= 1"),
    (dict(learning_rate=0.0), "learning_rate must be > 0"),
    (dict(l2=-1.0), "l2 must be >= 0"),
    (dict(y=np.array([0, 2, 1])), "0/1 labels"),
    (dict(x=np.array([[1.0], [np.nan], [0.0]])), "NaN or infinite"),
    (dict(x_eval=np.ones((2, 1))), "both x_eval and y_eval"),
    (dict(x_eval=np.ones((2, 5)), y_eval=np.ones(2)), "x_eval has 5 features but x has 1"),
])
def test_training_rejects_bad_input(kwargs, message):
    args = dict(x=np.ones((3, 1)), y=np.array([0, 1, 1]), steps=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        train_logistic_regression(**args)


def test_prediction_rejects_wrong_shapes_and_largest_weights():
    model = LogisticRegression(np.array([0.5, -2.0, 1.0], np.float32), 0.0, np.zeros(1))
    with pytest.raises(ValueError, match=r"shape \(examples, 3\)"):
        model.predict(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"shape \(examples, 3\)"):
        model.predict(np.ones(3))
    positive, negative = model.largest_weights(["a", "b", "c"], k=2)
    assert [w for w, _ in positive] == ["c", "a"] and [w for w, _ in negative] == ["b", "a"]
    with pytest.raises(ValueError, match="one name per weight"):
        model.largest_weights(["a"], k=1)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        model.largest_weights(["a", "b", "c"], k=0)


# --------------------------------------------------------------------------- evaluation
def test_accuracy_and_its_errors():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    with pytest.raises(ValueError, match="same length"):
        accuracy([1, 0], [1])
    with pytest.raises(ValueError, match="zero examples"):
        accuracy([], [])


@pytest.mark.parametrize("stratified", [False, True])
def test_kfold_holds_out_every_example_once(stratified):
    labels = np.array([0] * 13 + [1] * 7)
    folds = kfold_splits(20, 4, seed=3, labels=labels if stratified else None)
    assert len(folds) == 4
    held_out = np.concatenate([test for _, test in folds])
    assert sorted(held_out.tolist()) == list(range(20))
    for train, test in folds:
        assert not set(train) & set(test) and len(train) + len(test) == 20
        if stratified:  # each class spread evenly: 13 -> 3 or 4 per fold, 7 -> 1 or 2
            assert 3 <= np.sum(labels[test] == 0) <= 4 and 1 <= np.sum(labels[test] == 1) <= 2
    assert [t.tolist() for _, t in folds] == [t.tolist() for _, t in kfold_splits(20, 4, 3, labels if stratified else None)]


def test_kfold_rejects_bad_input():
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        kfold_splits(10, 1)
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        kfold_splits(10, True)
    with pytest.raises(ValueError, match="cannot make 5 folds from 3 examples"):
        kfold_splits(3, 5)
    with pytest.raises(ValueError, match=r"labels must have shape \(10,\)"):
        kfold_splits(10, 2, labels=[0, 1])
    with pytest.raises(ValueError, match="seed must be an int"):
        kfold_splits(10, 2, seed=-1)


def test_stratified_subset_keeps_class_shares():
    labels = np.array([0] * 40 + [1] * 40)
    subset = stratified_subset(np.arange(80), labels, 0.25, np.random.default_rng(0))
    assert len(subset) == 20 and labels[subset].sum() == 10
    assert np.all(np.diff(subset) > 0)  # sorted, no repeats
    rng = np.random.default_rng(0)
    assert not np.array_equal(stratified_subset(np.arange(80), labels, 0.25, rng),
                              stratified_subset(np.arange(80), labels, 0.25, rng))  # the rng moves on
    assert stratified_subset(np.arange(10)[::-1], labels, 1.0, rng).tolist() == list(range(10))
    with pytest.raises(ValueError, match="fraction must be in"):
        stratified_subset(np.arange(80), labels, 0.0, np.random.default_rng(0))


@pytest.mark.slow
def test_compare_rules_and_learning_in_the_tiny_preset():
    data = polarity_sentences()
    cfg = preset("tiny")
    result = compare_rules_and_learning(data.sentences, data.labels, cfg)
    n = len(data.sentences)
    assert set(result.methods) == set(METHODS)
    for name in METHODS:
        held_out = result.methods[name]
        assert held_out.predictions.shape == (cfg.logreg.repeats, n)
        assert held_out.fold_accuracy.shape == (cfg.logreg.repeats * cfg.logreg.folds,)
        assert 0 <= result.accuracy(name) <= 1
    rules = KeywordRules()
    assert result.accuracy("rules") == accuracy(rules.predict(data.sentences), data.labels)
    assert result.silent.tolist() == rules.undecided(data.sentences).tolist()
    assert result.curve_sizes.shape == (cfg.logreg.curve_points,)
    assert result.curve_sizes[-1] == n * (cfg.logreg.folds - 1) / cfg.logreg.folds
    for name in METHODS[1:]:  # the curve's last point is the full comparison
        assert result.curve_accuracy[name][-1] == pytest.approx(result.accuracy(name))
    assert result.methods["words"].train_accuracy == 1.0
    with pytest.raises(KeyError, match="unknown method"):
        result.accuracy("magic")
    with pytest.raises(ValueError, match="selects no sentence"):
        result.accuracy("rules", where=np.zeros(n, bool))
    with pytest.raises(ValueError, match="boolean mask"):
        result.accuracy("rules", where=np.ones(3, bool))


def test_compare_rules_and_learning_rejects_bad_input():
    cfg = preset("tiny")
    with pytest.raises(ValueError, match="empty list of sentences"):
        compare_rules_and_learning([], [], cfg)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        compare_rules_and_learning(["good", "bad"], [1], cfg)
    with pytest.raises(ValueError, match="labels must be 0/1"):
        compare_rules_and_learning(["good", "bad"], [1, 5], cfg)
    with pytest.raises(TypeError, match="single str"):
        compare_rules_and_learning("good", [1], cfg)


def test_chapter_2_preset_fields():
    for name in ("tiny", "cpu", "gpu"):
        cfg = preset(name)
        assert cfg.logreg.folds >= 2 and cfg.logreg.repeats >= 1 and cfg.logreg.curve_points >= 2


# --------------------------------------------------------------------------- the exercise checker
def _good(w, b, x, y):
    z = x @ w + b
    return np.mean(np.logaddexp(0, z) - y * z)


def test_checker_passes_a_correct_answer():
    result = ch02.check_cross_entropy(_good)
    assert result.passed, result.message
    assert "±60" in result.message


@pytest.mark.parametrize("answer, expected", [
    (_naive_cross_entropy, ["returned inf", "expected 60", "np.logaddexp(0, z)"]),
    (lambda w, b, x, y: len(y) * _good(w, b, x, y), ["expected 0.793", "sum over examples", "mean"]),
    (lambda w, b, x, y: -_good(w, b, x, y), ["sign is flipped"]),
    (lambda w, b, x, y: _good(w, b, x, 1 - y), ["labels swapped"]),
    (lambda w, b, x, y: np.logaddexp(0, x @ w + b) - y * (x @ w + b), ["array of shape (6,)", "mean"]),
    (lambda w, b, x, y: None, ["returned None", "expected one number"]),
    (lambda w, b, x, y: "0.79", ["returned str", "expected one number"]),
    (lambda w, b, x, y: 0.5, ["expected 0.793", "got 0.5"]),
    (lambda w, b, x, y: 1 / 0, ["raised ZeroDivisionError"]),
    (lambda w, b, x: 0.0, ["raised TypeError"]),
    ("not a function", ["expected a function", "str"]),
])
def test_checker_explains_wrong_answers(answer, expected):
    result = ch02.check_cross_entropy(answer)
    assert not result.passed
    for fragment in expected:
        assert fragment in result.message, result.message


def test_checker_on_the_notebook_stub_does_not_raise():
    def stub(w, b, x, y):
        raise NotImplementedError

    result = ch02.check_cross_entropy(stub)
    assert not result.passed and "NotImplementedError" in result.message
    assert str(result).startswith("❌")


# ============================================================================ the notebook's form
def test_exercise_solutions_follow_their_stubs():
    """A solution never stands above the code cell its exercise asks the learner to fill in."""
    import re
    from pathlib import Path

    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "chapters" / "02_rules_to_learning.ipynb", as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "ch02.check_" in cell.source:
            before = "\n".join(c.source for c in nb.cells[:i] if c.cell_type == "markdown")
            label = re.findall(r":label: (ex02-[\w-]+)", before)[-1]  # the exercise this stub answers
            assert f"{{solution}} {label}" not in before, f"the solution of {label} stands above its stub"
