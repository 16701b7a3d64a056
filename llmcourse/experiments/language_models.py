"""Chapter 5's generation experiments with character n-gram models: what the samples look like.

``ngram_sweep`` is the scoring experiment: validation bits per character for every order and three
smoothings, the n-gram rows of the scoreboard (chapters 7 and 8 re-run it, it is deterministic).
The other functions take a trained ``CharNGramModel`` and a seed, and return what the notebook shows.

* ``samples_by_order`` — the same prompt and key continued by models of several orders;
* ``greedy_loop`` — greedy decoding, and the loop it falls into;
* ``temperature_study`` — one distribution and one sample per temperature;
* ``filter_study`` — which characters top-k and top-p keep after a peaked and a flat context.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import jax
import numpy as np

from llmcourse import generation
from llmcourse.data import wikipedia_text
from llmcourse.metrics import bits_per_char
from llmcourse.models.ngram import CharNGramModel
from llmcourse import scoreboard
from llmcourse.scoreboard import Score

PROMPT = "The "
TEMPERATURES = (0.5, 1.0, 1.5, 2.0)
TOP_K = 5
TOP_P = 0.9
_WORD_RE = re.compile(r"[a-z]+")


def continue_text(model: CharNGramModel, prompt: str, n_chars: int, seed: int = 0, **sampling) -> str:
    """``prompt`` continued by ``n_chars`` characters from ``model`` (``generation.generate`` with
    ``jax.random.key(seed)``; ``sampling`` = temperature, top_k, top_p or use_greedy)."""
    key = None if sampling.get("use_greedy") else jax.random.key(seed)
    ids = generation.generate(model.next_logits, model.encode(prompt), n_chars, key=key, **sampling)
    return model.tokenizer.decode(ids)


def known_word_share(text: str, vocabulary: set[str]) -> float:
    """Share of the (lower-cased, letters-only) words of ``text`` that occur in ``vocabulary``."""
    found = _WORD_RE.findall(text.lower())
    if not found:
        return 0.0
    return float(np.mean([w in vocabulary for w in found]))


def training_words(text: str) -> set[str]:
    """The set of lower-cased letters-only words of a training text."""
    return set(_WORD_RE.findall(text.lower()))


@dataclass(frozen=True)
class OrderSamples:
    orders: tuple[int, ...]
    texts: dict  # order -> generated text (prompt included)
    word_share: dict  # order -> share of generated words that are real (training) words


def samples_by_order(model: CharNGramModel, orders, train_text: str, n_chars: int, seed: int,
                     prompt: str = PROMPT) -> OrderSamples:
    """Continue ``prompt`` with the same key at every order (Kneser–Ney, temperature 1), and
    measure how many of the generated words are words of the training text."""
    vocabulary = training_words(train_text)
    texts, share = {}, {}
    for n in orders:
        text = continue_text(model.with_options(order=int(n)), prompt, n_chars, seed)
        texts[int(n)] = text
        share[int(n)] = known_word_share(text[len(prompt):], vocabulary)
    return OrderSamples(tuple(int(n) for n in orders), texts, share)


def repetition_period(text: str) -> int | None:
    """The shortest ``p`` such that the last ``3 p`` characters repeat with period ``p`` (the text
    ends in a loop seen at least three times), or None."""
    for p in range(1, len(text) // 3 + 1):
        tail = text[-3 * p:]
        if tail[p:] == tail[:-p]:
            return p
    return None


@dataclass(frozen=True)
class GreedyLoop:
    text: str
    period: int | None  # length of the repeating cycle at the end (None: no loop)
    cycle: str  # the repeating piece, from where the loop begins
    loop_start: int  # characters generated before the loop began


def greedy_loop(model: CharNGramModel, n_chars: int, prompt: str = PROMPT) -> GreedyLoop:
    """Greedy decoding from ``prompt`` and the loop it ends in."""
    text = continue_text(model, prompt, n_chars, use_greedy=True)
    period = repetition_period(text)
    if period is None:
        return GreedyLoop(text, None, "", len(text) - len(prompt))
    start = len(text) - period
    while start > 0 and text[start - 1] == text[start - 1 + period]:
        start -= 1  # walk back to where the periodic part begins
    return GreedyLoop(text, period, text[start:start + period], max(0, start - len(prompt)))


@dataclass(frozen=True)
class TemperatureStudy:
    context: str
    temperatures: tuple[float, ...]
    chars: list[str]  # the characters, most probable (at T = 1) first
    probs: dict  # T -> (V,) distribution after ``context``, in the order of ``chars``
    samples: dict  # T -> generated text (prompt included)
    sample_bits: dict  # T -> bits per character of the generated part, under the model at T = 1


def temperature_study(model: CharNGramModel, context: str, n_chars: int, seed: int,
                      temperatures=TEMPERATURES, prompt: str = PROMPT) -> TemperatureStudy:
    """The distribution after ``context`` at every temperature, and a sample (same key) at each.

    ``sample_bits`` scores each sample with the unchanged model: how surprising the text is to the
    model that wrote it.
    """
    logits = model.next_logits(model.encode(context))
    order = np.argsort(-logits, kind="stable")
    chars = [model.tokenizer.chars[i] for i in order]
    probs, samples, bits = {}, {}, {}
    for t in temperatures:
        probs[t] = np.asarray(generation.probabilities(logits, temperature=t))[order]
        text = continue_text(model, prompt, n_chars, seed, temperature=t)
        samples[t] = text
        bits[t] = bits_per_char(model.log_probs(text)[len(prompt):])
    return TemperatureStudy(context, tuple(temperatures), chars, probs, samples, bits)


@dataclass(frozen=True)
class FilterStudy:
    contexts: tuple[str, ...]
    k: int
    p: float
    chars: dict  # context -> characters, most probable first
    probs: dict  # context -> (V,) probabilities in that order
    top_k_kept: dict  # context -> (V,) bool: kept by top-k
    top_p_kept: dict  # context -> (V,) bool: kept by top-p


def filter_study(model: CharNGramModel, contexts, k: int = TOP_K, p: float = TOP_P) -> FilterStudy:
    """Which characters top-k and top-p keep after each context (most probable first)."""
    chars, probs, kept_k, kept_p = {}, {}, {}, {}
    for context in contexts:
        logits = model.next_logits(model.encode(context))
        order = np.argsort(-logits, kind="stable")
        chars[context] = [model.tokenizer.chars[i] for i in order]
        probs[context] = np.exp(logits)[order]
        kept_k[context] = np.isfinite(np.asarray(generation.top_k_filter(logits, k)))[order]
        kept_p[context] = np.isfinite(np.asarray(generation.top_p_filter(logits, p)))[order]
    return FilterStudy(tuple(contexts), k, p, chars, probs, kept_k, kept_p)


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
    ``cfg.lm.train_chars`` characters of the train split, then score ``scoreboard.text(cfg)`` with
    every order and three smoothings. Deterministic (no randomness at all). The training-text
    scores use the first ``len(scoreboard.text(cfg))`` training characters, which the models saw.

    ``model``: the counts, if already made with ``CharNGramModel(wikipedia_text("train",
    max_chars=cfg.lm.train_chars), cfg.lm.ngram_max_order)`` (checked), to save counting again.
    """
    train = wikipedia_text("train", max_chars=cfg.lm.train_chars)
    valid = scoreboard.text(cfg)
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
    return [scoreboard.record(name, bits, cfg, chapter=5, details=details) for name, bits, details in ngram_scores(sweep)]
