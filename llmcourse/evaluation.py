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


# =========================================================================== chapter 5: language models
# How well a language model predicts held-out text, and the book's scoreboard.
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402

from llmcourse.data import cache_dir, wikipedia_text  # noqa: E402
from llmcourse.models.ngram import CharNGramModel  # noqa: E402


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


# --------------------------------------------------------------------------- the scoreboard
SCOREBOARD_FILE = "scoreboard.json"
_SCOREBOARD_FORMAT = 1


class ScoreboardError(ValueError):
    """The scoreboard file is corrupt (its contents do not match their SHA-256, or it is not a
    scoreboard), or a score to record is invalid."""


@dataclass(frozen=True)
class Score:
    """One row of the scoreboard: a model's bits per character on the validation text."""

    model: str  # a stable name, e.g. "char n-gram, Kneser–Ney"; recording it again replaces the row
    bits_per_char: float
    chapter: int  # where the book trains it
    details: str  # settings that matter: order, size, training steps, ...
    preset: str
    validation_chars: int  # how many characters were scored
    validation_sha256: str  # of the scored text: rows scored on a different text are never mixed in


def scoreboard_text(cfg) -> str:
    """The scoreboard's text: ``wikipedia_text("validation")``, the whole split in the ``cpu`` and
    ``gpu`` presets (``cfg.data.scoreboard_max_chars`` exceeds its length) and its first
    ``cfg.data.scoreboard_max_chars`` characters in ``tiny``. Fixed: the split's seed never changes."""
    return wikipedia_text("validation", max_chars=cfg.data.scoreboard_max_chars)


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scoreboard_path() -> Path:
    """The scoreboard file: ``scoreboard.json`` in ``llmcourse.data.cache_dir()``, shared by every
    chapter's kernel on this machine. Rows are kept per preset."""
    return cache_dir() / SCOREBOARD_FILE


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def load_scoreboard_file(path=None) -> list[Score]:
    """Every row in the scoreboard file (all presets); ``[]`` when there is no file yet.

    Raises ``ScoreboardError`` when the file is unreadable, not a scoreboard, or its rows do not
    match the SHA-256 stored with them (it was altered or half-written).
    """
    path = scoreboard_path() if path is None else Path(path)
    if not path.exists():
        return []
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        payload, digest = entry["payload"], entry["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ScoreboardError(f"{path} is not a readable scoreboard ({err}); refusing to use it") from None
    if _digest(payload) != digest:
        raise ScoreboardError(f"{path} is corrupt: its rows do not match their SHA-256; refusing to use it")
    try:
        if payload["format"] != _SCOREBOARD_FORMAT:
            raise ScoreboardError(f"{path} has scoreboard format {payload['format']!r}, expected {_SCOREBOARD_FORMAT}")
        return [Score(**row) for row in payload["rows"]]
    except (KeyError, TypeError) as err:
        raise ScoreboardError(f"{path} is not a scoreboard ({err}); refusing to use it") from None


def _write_scoreboard_file(rows: list[Score], path: Path) -> None:
    payload = {"format": _SCOREBOARD_FORMAT, "rows": [asdict(r) for r in rows]}
    entry = {"sha256": _digest(payload), "payload": payload}
    # a temporary file renamed over the old one: a crash never leaves a half-written scoreboard
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".scoreboard-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_score(model_name: str, bits: float, cfg, chapter: int, details: str = "") -> Score:
    """Add (or replace) the row ``model_name`` of ``cfg``'s preset and return it.

    ``bits`` must be the model's ``bits_per_char`` on ``scoreboard_text(cfg)``; the row stores that
    text's length and SHA-256. A corrupt scoreboard file is never used: it is renamed to
    ``scoreboard.json.corrupt`` with a warning and a fresh scoreboard is started.
    """
    if not isinstance(model_name, str) or not model_name.strip():
        raise ScoreboardError(f"model_name must be a non-empty str, got {model_name!r}")
    if isinstance(bits, bool) or not isinstance(bits, (int, float, np.floating)) or not math.isfinite(bits) or bits <= 0:
        raise ScoreboardError(f"bits per character must be a finite number > 0, got {bits!r}")
    if isinstance(chapter, bool) or not isinstance(chapter, (int, np.integer)) or chapter < 1:
        raise ScoreboardError(f"chapter must be an int >= 1, got {chapter!r}")
    text = scoreboard_text(cfg)
    row = Score(model=model_name.strip(), bits_per_char=float(bits), chapter=int(chapter), details=str(details),
                preset=cfg.name, validation_chars=len(text), validation_sha256=_text_digest(text))
    path = scoreboard_path()
    with _scoreboard_lock(path):
        try:
            rows = load_scoreboard_file(path)
        except ScoreboardError as err:
            warnings.warn(f"{err}; moving it to {path.name}.corrupt and starting a new scoreboard", stacklevel=2)
            os.replace(path, path.with_name(path.name + ".corrupt"))
            rows = []
        rows = [r for r in rows if not (r.preset == row.preset and r.model == row.model)] + [row]
        _write_scoreboard_file(rows, path)
    return row


class _scoreboard_lock:
    """An exclusive lock on ``scoreboard.json.lock`` while a row is added, so two kernels adding
    rows at once do not lose one (POSIX ``fcntl``; elsewhere no lock)."""

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".lock")

    def __enter__(self):
        self.file = open(self.path, "a")
        try:
            import fcntl

            fcntl.flock(self.file, fcntl.LOCK_EX)
        except ImportError:  # Windows: no lock; adding rows from two kernels at once is unlikely
            pass
        return self

    def __exit__(self, *exc):
        self.file.close()  # closing releases the lock


def scoreboard(cfg) -> list[Score]:
    """The rows of ``cfg``'s preset, best (fewest bits per character) first.

    Only rows scored on today's ``scoreboard_text(cfg)`` count; others (e.g. from an older version
    of the data) are left out with a warning. A corrupt file is never used: a warning, and ``[]``.
    """
    try:
        rows = load_scoreboard_file()
    except ScoreboardError as err:
        warnings.warn(str(err), stacklevel=2)
        return []
    rows = [r for r in rows if r.preset == cfg.name]
    digest = _text_digest(scoreboard_text(cfg)) if rows else None
    stale = [r.model for r in rows if r.validation_sha256 != digest]
    if stale:
        warnings.warn(f"left out scoreboard rows scored on a different validation text: {stale}", stacklevel=2)
    return sorted((r for r in rows if r.validation_sha256 == digest), key=lambda r: r.bits_per_char)


def scoreboard_markdown(rows: list[Score]) -> str:
    """The rows as a Markdown table (display with ``IPython.display.Markdown``)."""
    lines = ["| model | bits per character | chapter | details |", "|---|---:|---:|---|"]
    for r in rows:
        cells = [c.replace("|", "\\|") for c in (r.model, f"{r.bits_per_char:.3f}", str(r.chapter), r.details)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the n-gram rows
ADD_ONE = 1.0  # Laplace's add-one
ADD_K = 0.01  # chosen once on the validation split at the cpu preset, from 0.001, 0.003, 0.01, 0.03, 0.1
KN_DISCOUNT = 0.75  # the textbook absolute discount (Chen & Goodman 1999 discuss estimating it)


@dataclass(frozen=True)
class NGramSweep:
    """Validation bits per character of character n-gram models of every order 1..max_order."""

    orders: np.ndarray  # (max_order,) 1, 2, ..., max_order
    add_one: np.ndarray  # (max_order,) add-k with k = 1
    add_k: np.ndarray  # (max_order,) add-k with k = ADD_K
    kneser_ney: np.ndarray  # (max_order,) interpolated Kneser–Ney with discount KN_DISCOUNT
    kneser_ney_train: np.ndarray  # (max_order,) the same models on a piece of their own training text
    uniform: float  # log2 V: the model that knows nothing but the vocabulary
    context_seen: np.ndarray  # (max_order,) share of validation characters whose n-1 previous characters occur in training
    stored_ngrams: np.ndarray  # (max_order,) distinct n-grams counted for order n (what the model stores)
    model: CharNGramModel  # Kneser–Ney at max_order; ``model.with_options(order=...)`` for the others
    train_chars: int
    validation_chars: int
    unknown_chars: int  # validation characters never seen in training (scored as <unk>)

    def best_order(self, smoothing: str = "kneser-ney") -> int:
        curve = {"kneser-ney": self.kneser_ney, "add-k": self.add_k, "add-one": self.add_one}[smoothing]
        return int(self.orders[np.argmin(curve)])


def ngram_sweep(cfg, model: CharNGramModel | None = None) -> NGramSweep:
    """Chapter 5's experiment: count n-grams up to ``cfg.lm.ngram_max_order`` in the first
    ``cfg.lm.train_chars`` characters of the train split, then score ``scoreboard_text(cfg)`` with
    every order and three smoothings. Deterministic (no randomness at all). The training-text
    scores use the first ``len(scoreboard_text(cfg))`` training characters, which the models saw.

    ``model``: the counts, if already made with ``CharNGramModel(wikipedia_text("train",
    max_chars=cfg.lm.train_chars), cfg.lm.ngram_max_order)`` (checked), to save counting again.
    """
    train = wikipedia_text("train", max_chars=cfg.lm.train_chars)
    valid = scoreboard_text(cfg)
    if model is None:
        model = CharNGramModel(train, cfg.lm.ngram_max_order, smoothing="kneser-ney", discount=KN_DISCOUNT)
    elif model.max_order != cfg.lm.ngram_max_order or model.train_chars != len(train):
        raise ValueError(f"the model counted orders up to {model.max_order} in {model.train_chars:,} characters; "
                         f"the sweep needs {cfg.lm.ngram_max_order} and the {len(train):,} characters of "
                         "wikipedia_text('train', max_chars=cfg.lm.train_chars)")
    model = model.with_options(order=cfg.lm.ngram_max_order, smoothing="kneser-ney", discount=KN_DISCOUNT)
    orders = np.arange(1, cfg.lm.ngram_max_order + 1)
    curves = {"add_one": [], "add_k": [], "kneser_ney": [], "kneser_ney_train": []}
    seen = train[: len(valid)]
    for n in orders:
        kn = model.with_options(order=int(n))
        curves["kneser_ney"].append(bits_per_char(kn.log_probs(valid)))
        curves["kneser_ney_train"].append(bits_per_char(kn.log_probs(seen)))
        curves["add_k"].append(bits_per_char(kn.with_options(smoothing="add-k", k=ADD_K).log_probs(valid)))
        curves["add_one"].append(bits_per_char(kn.with_options(smoothing="add-k", k=ADD_ONE).log_probs(valid)))
    known = set(model.tokenizer.chars)
    return NGramSweep(
        orders=orders, **{name: np.asarray(values) for name, values in curves.items()},
        uniform=math.log2(model.vocab_size), context_seen=model.seen_context_share(valid),
        stored_ngrams=np.asarray(model.stored_ngrams()), model=model, train_chars=len(train),
        validation_chars=len(valid), unknown_chars=sum(c not in known for c in valid),
    )


def ngram_scores(sweep: NGramSweep) -> list[tuple[str, float, str]]:
    """The scoreboard rows ``(model, bits_per_char, details)`` chapter 5 records from a sweep."""
    kn, ak = sweep.best_order("kneser-ney"), sweep.best_order("add-k")
    size = f"V = {sweep.model.vocab_size}, trained on {sweep.train_chars:,} characters"
    return [
        ("uniform over the vocabulary", sweep.uniform, f"log2 V, V = {sweep.model.vocab_size}: no training"),
        ("char unigram (1-gram)", float(sweep.kneser_ney[0]), f"Kneser–Ney; {size}"),
        ("char bigram (2-gram)", float(sweep.kneser_ney[1]), f"Kneser–Ney; {size}"),
        ("char n-gram, add-k", float(sweep.add_k[ak - 1]), f"best order {ak} of 1..{len(sweep.orders)}, k = {ADD_K}; {size}"),
        ("char n-gram, Kneser–Ney", float(sweep.kneser_ney[kn - 1]),
         f"best order {kn} of 1..{len(sweep.orders)}, D = {KN_DISCOUNT}; {size}"),
    ]


def record_ngram_scores(cfg, sweep: NGramSweep | None = None) -> list[Score]:
    """Record chapter 5's n-gram rows for ``cfg``'s preset, running ``ngram_sweep(cfg)`` unless a
    sweep is given. Deterministic, so chapter 8 can call it without chapter 5 having run."""
    sweep = ngram_sweep(cfg) if sweep is None else sweep
    return [record_score(name, bits, cfg, chapter=5, details=details) for name, bits, details in ngram_scores(sweep)]
