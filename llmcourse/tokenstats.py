"""Measuring tokenizers: how long the token sequences get, and how much of the text is lost.

Two numbers describe what a tokenizer does to text it has not seen:

* **tokens per character** = (number of tokens) / (number of characters). A model pays for every
  token, so fewer tokens per character means shorter sequences and more text in a fixed context.
* **unknown rate** = (number of ``<unk>`` tokens) / (number of tokens): the share of the text the
  tokenizer cannot represent. Byte-level BPE has none by construction.

``vocabulary_sweep`` measures both for word, character and BPE tokenizers of growing vocabulary
size, the experiment of chapter 4.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from llmcourse.tokenizers import (
    BPETokenizer, CharTokenizer, Tokenizer, TokenizerError, WordTokenizer, chunks, train_bpe_merges, words,
)

KINDS = ("word", "char", "bpe")


def _check_eval_text(text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a str of text to measure, got {type(text).__name__}")
    if not text:
        raise TokenizerError("cannot measure a tokenizer on empty text")
    return text


def tokens_per_char(tokenizer: Tokenizer, text: str) -> float:
    """Number of tokens ``tokenizer`` makes of ``text``, divided by its number of characters."""
    text = _check_eval_text(text)
    return len(tokenizer.encode(text)) / len(text)


def unknown_rate(tokenizer: Tokenizer, text: str) -> float:
    """Share of the tokens of ``text`` that are ``<unk>`` (0.0 for byte-level BPE, which has no ``<unk>``)."""
    text = _check_eval_text(text)
    if isinstance(tokenizer, BPETokenizer):
        return 0.0
    ids = tokenizer.encode(text)
    return sum(i == 0 for i in ids) / max(len(ids), 1)


def sweep_sizes(max_size: int, start: int = 256) -> list[int]:
    """Vocabulary sizes for a sweep: ``start``, doubling, up to and including ``max_size``."""
    if not isinstance(max_size, int) or max_size < start:
        raise TokenizerError(f"max_size must be an int >= {start}, got {max_size!r}")
    sizes = [start]
    while sizes[-1] * 2 <= max_size:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != max_size:
        sizes.append(max_size)
    return sizes


@dataclass(frozen=True)
class SweepPoint:
    """One tokenizer measured on held-out text."""

    kind: str  # "word", "char" or "bpe"
    vocab_size: int
    tokens_per_char: float
    unknown_rate: float


def vocabulary_sweep(train_text: str, eval_text: str, sizes: list[int], merges=None) -> list[SweepPoint]:
    """Train word and BPE tokenizers of each size in ``sizes`` (and one character tokenizer) on
    ``train_text``; measure tokens per character and unknown rate on ``eval_text``.

    The word tokenizers keep the ``size - 1`` most frequent words (plus ``<unk>``); one more point,
    at the full training vocabulary, keeps every word seen. BPE is trained once, for the largest
    size: the first ``size - 256`` merges of a longer training run are exactly what a run for
    ``size`` learns, so each smaller BPE vocabulary is a prefix of its merges. Pass ``merges``
    (from ``train_bpe_merges(train_text, max(sizes))`` or longer) to skip that training.
    """
    _check_text_pair(train_text, eval_text)
    sizes = sorted(set(sizes))
    if not sizes or sizes[0] < 256:
        raise TokenizerError(f"sizes must be >= 256 (the byte alphabet of BPE), got {sizes}")
    points = []

    counts = Counter(words(train_text))
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    eval_words = words(eval_text)
    per_char = len(eval_words) / len(eval_text)  # one token per word, known or not
    for size in [s for s in sizes if s - 1 < len(ranked)] + [len(ranked) + 1]:
        known = set(ranked[: size - 1])
        unk = sum(w not in known for w in eval_words) / len(eval_words)
        points.append(SweepPoint("word", size, per_char, unk))

    char = CharTokenizer.train(train_text)
    points.append(SweepPoint("char", char.vocab_size, tokens_per_char(char, eval_text), unknown_rate(char, eval_text)))

    if merges is None:
        merges = train_bpe_merges(train_text, sizes[-1])
    for size in sizes:
        if size - 256 > len(merges):
            break  # the training text ran out of pairs to merge
        bpe = BPETokenizer(merges[: size - 256])
        points.append(SweepPoint("bpe", size, tokens_per_char(bpe, eval_text), 0.0))
    return points


def _check_text_pair(train_text, eval_text) -> None:
    for name, text in (("train_text", train_text), ("eval_text", eval_text)):
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str, got {type(text).__name__}")
        if not text:
            raise TokenizerError(f"{name} is empty")


def of_kind(points: list[SweepPoint], kind: str) -> list[SweepPoint]:
    """The sweep points of one tokenizer kind, smallest vocabulary first."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    return sorted((p for p in points if p.kind == kind), key=lambda p: p.vocab_size)


def unknown_words(tokenizer: WordTokenizer, text: str, k: int = 10) -> list[tuple[str, int]]:
    """The ``k`` most frequent words of ``text`` that ``tokenizer`` maps to ``<unk>``, with counts."""
    counts = Counter(w for w in words(_check_eval_text(text)) if w not in tokenizer.index)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def split_words_share(tokenizer: BPETokenizer, text: str) -> float:
    """Share of the word chunks of ``text`` (a word with its leading space) that BPE cuts into more
    than one token."""
    pieces = [c for c in chunks(_check_eval_text(text)) if c.strip() and c.strip().isalpha()]
    if not pieces:
        raise TokenizerError("the text has no words to split")
    return sum(len(tokenizer.encode(c)) > 1 for c in pieces) / len(pieces)
