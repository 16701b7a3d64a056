"""Chapter 5's generation experiments with character n-gram models: what the samples look like.

The scoring experiment (validation bits per character for every order) is
``llmcourse.evaluation.ngram_sweep``, because chapter 8 re-runs it for the scoreboard. The functions
here take a trained ``CharNGramModel`` and a seed, and return what the notebook shows; the claims
tests (``tests/test_ch05.py``) call them with the ``cpu`` preset and assert what the prose says.

* ``samples_by_order`` — the same prompt and key continued by models of several orders;
* ``greedy_loop`` — greedy decoding, and the loop it falls into;
* ``temperature_study`` — one distribution and one sample per temperature;
* ``filter_study`` — which characters top-k and top-p keep after a peaked and a flat context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jax
import numpy as np

from llmcourse import generation
from llmcourse.evaluation import bits_per_char
from llmcourse.models.ngram import CharNGramModel

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
