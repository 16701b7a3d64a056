"""Counting models of text: the next token predicted from counts of what followed before.

* ``BigramCounts`` — word pairs (chapter 1).
* ``CharNGramModel`` — characters after the previous n - 1 characters, with add-k or interpolated
  Kneser–Ney smoothing (chapter 5).
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from llmcourse.tokenizers import CharTokenizer


class BigramCounts:
    r"""Counts of word pairs ``(w_prev, w_next)``: a language model with a one-word memory.

    The probability of the next word is its share of what followed the previous word:

    .. math:: P(w_{t} \mid w_{t-1}) = \frac{\mathrm{count}(w_{t-1}, w_{t})}{\mathrm{count}(w_{t-1}, \cdot)}
    """

    def __init__(self, tokens: list[str]):
        tokens = list(tokens)
        if len(tokens) < 2:
            raise ValueError(f"need at least 2 tokens to count word pairs, got {len(tokens)}")
        self.pairs: dict[str, Counter] = defaultdict(Counter)
        for prev, nxt in zip(tokens, tokens[1:]):
            self.pairs[prev][nxt] += 1
        self.pairs = dict(self.pairs)
        self.n_tokens = len(tokens)

    @property
    def vocabulary_size(self) -> int:
        return len(set(self.pairs) | {w for c in self.pairs.values() for w in c})

    def next_word_probabilities(self, word: str, k: int | None = None) -> list[tuple[str, float]]:
        """The words seen after ``word``, most frequent first, with their probabilities (the ``k``
        most frequent when ``k`` is given; probabilities are always shares of *all* that followed)."""
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"k must be a positive int or None, got {k!r}")
        if word not in self.pairs:
            raise KeyError(f"{word!r} never appears before another word in the training text")
        counts = self.pairs[word]
        total = sum(counts.values())
        return [(w, c / total) for w, c in counts.most_common(k)]

    def generate(self, start: str, n_words: int, seed: int = 0, greedy: bool = False) -> list[str]:
        """Continue from ``start`` for ``n_words`` words, sampling each from the counts.

        With ``greedy=True`` each step takes the most frequent next word instead (ties go to the
        pair seen first). Generation stops early at a word that never had a successor.
        """
        if n_words < 0:
            raise ValueError(f"n_words must be >= 0, got {n_words}")
        if start not in self.pairs and not any(start in c for c in self.pairs.values()):
            raise KeyError(f"{start!r} never appears in the training text")
        rng = np.random.default_rng(seed)
        out = [start]
        for _ in range(n_words):
            if out[-1] not in self.pairs:  # a word only ever seen at the very end
                break
            options = self.next_word_probabilities(out[-1])
            if greedy:
                out.append(options[0][0])
            else:
                words, probs = zip(*options)
                out.append(words[rng.choice(len(words), p=np.asarray(probs))])
        return out


# =========================================================================== character n-grams
# A character n-gram model predicts the next character from the previous n - 1 characters. The
# counts live in sorted integer arrays (one "level" per context length), so counting two million
# characters and scoring a few hundred thousand take seconds, not minutes, in plain NumPy.

SMOOTHINGS = ("kneser-ney", "add-k")


@dataclass(frozen=True)
class _Level:
    """The counts of one context length ``j``: every (j+1)-gram ``h w`` seen in training.

    An n-gram is stored as the integer ``context_id * V + w``, where ``context_id`` numbers the
    distinct j-character contexts (the id of ``h``'s (j)-gram at level ``j - 1``); sorting these keys
    puts every follower of a context next to each other.
    """

    keys: np.ndarray  # (grams,) int64, sorted: context_id * V + next char id
    counts: np.ndarray  # (grams,) c(h w): how often the (j+1)-gram occurred
    continuation: np.ndarray  # (grams,) N1+(. h w): how many distinct characters preceded it
    context_total: np.ndarray  # (contexts,) c(h .): sum of counts over the followers of h
    context_types: np.ndarray  # (contexts,) N1+(h .): how many distinct characters followed h
    continuation_total: np.ndarray  # (contexts,) N1+(. h .): sum of continuation counts of h
    continuation_types: np.ndarray  # (contexts,) how many w have N1+(. h w) > 0

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Index of each key in ``self.keys``, or -1 where the n-gram was never seen."""
        where = np.searchsorted(self.keys, keys)
        where = np.minimum(where, len(self.keys) - 1)
        return np.where(self.keys[where] == keys, where, -1)


def _count_levels(ids: np.ndarray, vocab_size: int, order: int) -> list[_Level]:
    """Count every n-gram of length 1..order in ``ids`` (see ``_Level``)."""
    n = len(ids)
    context = np.zeros(n, dtype=np.int64)  # id of the j characters before position t (valid for t >= j)
    levels, gram_ids, firsts = [], [], []
    for j in range(order):
        keys = context[j:] * vocab_size + ids[j:]  # the (j+1)-gram ending at each position t >= j
        unique, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True,
                                                   return_counts=True)
        gram_id = np.full(n, -1, dtype=np.int64)
        gram_id[j:] = inverse.reshape(-1)
        levels.append([unique, counts])
        gram_ids.append(gram_id)
        firsts.append(first + j)  # a position where each distinct (j+1)-gram ends
        context = np.empty(n, dtype=np.int64)
        context[0] = -1
        context[1:] = gram_id[:-1]  # the (j+1)-gram ending at t - 1 is the context of length j+1 at t
    out = []
    for j, (unique, counts) in enumerate(levels):
        n_contexts = 1 if j == 0 else len(levels[j - 1][0])  # the distinct j-grams
        if j + 1 < order:
            # each distinct (j+2)-gram "x h w" adds one to the continuation count of its suffix "h w"
            suffix = gram_ids[j][firsts[j + 1]]
            continuation = np.bincount(suffix, minlength=len(unique))
        else:
            continuation = counts  # never used: the top level always uses raw counts
        context_of = unique // vocab_size
        out.append(_Level(
            keys=unique,
            counts=counts,
            continuation=continuation,
            context_total=np.bincount(context_of, weights=counts, minlength=n_contexts),
            context_types=np.bincount(context_of, minlength=n_contexts),
            continuation_total=np.bincount(context_of, weights=continuation, minlength=n_contexts),
            continuation_types=np.bincount(context_of, weights=continuation > 0, minlength=n_contexts),
        ))
    return out


class CharNGramModel:
    r"""A character n-gram language model: :math:`P(x_t \mid x_{t-n+1} \ldots x_{t-1})` from counts.

    **Vocabulary.** The characters of the training text plus one unknown symbol ``<unk>`` (a
    ``CharTokenizer``), so :math:`V` = distinct training characters + 1. A character never seen in
    training is read as ``<unk>``; every smoothing below gives ``<unk>`` a non-zero probability, so
    every character of any text gets a finite number of bits.

    **Contexts.** ``h`` is the previous ``order - 1`` characters. The first characters of a text
    have a shorter history and are predicted from all they have (so the first from none).

    **Add-k smoothing** (Laplace's rule when k = 1) pretends every character followed every
    context k more times than it did:

    .. math:: P(w \mid h) = \frac{c(h w) + k}{c(h\,\cdot) + k V}

    An unseen context (:math:`c(h\,\cdot) = 0`) gives the uniform :math:`1/V`.

    **Interpolated Kneser–Ney** (Kneser & Ney 1995; Chen & Goodman 1999) subtracts a discount
    :math:`D` from every seen count and gives the mass it frees to the next shorter context
    :math:`h'` (``h`` without its first character):

    .. math::
        P(w \mid h) = \frac{\max(c(h w) - D, 0)}{c(h\,\cdot)}
                      + \frac{D \, N_{1+}(h\,\cdot)}{c(h\,\cdot)} \, P_{\mathrm{KN}}(w \mid h')

    where :math:`N_{1+}(h\,\cdot)` is the number of distinct characters seen after ``h``. The
    shorter contexts use *continuation counts* :math:`N_{1+}(\cdot\, h' w)` — in how many distinct
    contexts ``h' w`` occurred — in place of :math:`c(h' w)` (and their sums in place of
    :math:`c(h'\,\cdot)`): a character that follows many different contexts is a better guess for a
    new one than a character that is frequent after a single context. The recursion ends in the
    uniform distribution :math:`1/V`, which is where ``<unk>`` gets its probability. A context never
    seen in training passes its shorter context's probability through unchanged.

    ``with_options(order=...)`` gives the lower-order models from the same counts without counting
    again.
    """

    def __init__(self, text: str, order: int, smoothing: str = "kneser-ney", k: float = 1.0,
                 discount: float = 0.75, tokenizer: CharTokenizer | None = None):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"order must be an int >= 1 (1 = no context), got {order!r}")
        if not isinstance(text, str):
            raise TypeError(f"expected the training text as a str, got {type(text).__name__}")
        if not text:
            raise ValueError("cannot train a character n-gram model on an empty text")
        if len(text) < order:
            raise ValueError(f"the training text has {len(text)} characters, fewer than order={order}: "
                             "not a single n-gram to count")
        self.tokenizer = tokenizer if tokenizer is not None else CharTokenizer.train(text)
        ids = np.asarray(self.tokenizer.encode(text), dtype=np.int64)
        self.max_order = int(order)
        self.train_chars = len(text)
        self._levels = _count_levels(ids, self.tokenizer.vocab_size, self.max_order)
        self._set_options(order, smoothing, k, discount)

    def _set_options(self, order, smoothing, k, discount) -> None:
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= self.max_order:
            raise ValueError(f"order must be an int in 1..{self.max_order} (the order counted), got {order!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown smoothing {smoothing!r}; choose one of {', '.join(SMOOTHINGS)}")
        if not np.isfinite(k) or k <= 0:
            raise ValueError(f"k must be > 0 (k = 0 would give unseen characters probability 0), got {k!r}")
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount!r}")
        self.order, self.smoothing, self.k, self.discount = int(order), smoothing, float(k), float(discount)

    def with_options(self, order: int | None = None, smoothing: str | None = None,
                     k: float | None = None, discount: float | None = None) -> "CharNGramModel":
        """The same counts with another order (at most the one counted) or smoothing: no recounting."""
        model = copy.copy(self)
        model._set_options(self.order if order is None else order,
                           self.smoothing if smoothing is None else smoothing,
                           self.k if k is None else k, self.discount if discount is None else discount)
        return model

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def __repr__(self) -> str:
        extra = f"k={self.k:g}" if self.smoothing == "add-k" else f"discount={self.discount:g}"
        return (f"CharNGramModel(order={self.order}, smoothing={self.smoothing!r}, {extra}, "
                f"V={self.vocab_size}, trained on {self.train_chars:,} characters)")

    # ----------------------------------------------------------------- the probability of w after h
    def _contexts(self, ids: np.ndarray) -> np.ndarray:
        """(order, len(ids) + 1) ids of the contexts before each position (and one past the end);
        -1 where the context is longer than the history or was never seen in training."""
        m = len(ids) + 1
        contexts = np.full((self.order, m), -1, dtype=np.int64)
        contexts[0] = 0  # the empty context
        for j in range(self.order - 1):
            # the context of length j + 1 at t is the (j+1)-gram ending at t - 1
            previous = contexts[j, :-1]
            found = self._levels[j].find(np.maximum(previous, 0) * self.vocab_size + ids)
            contexts[j + 1, 1:] = np.where(previous >= 0, found, -1)
        return contexts

    def _probabilities(self, contexts: np.ndarray, top: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """P(targets[i] | contexts[:, i]) with the smoothing's recursion, vectorised over i.

        ``top[i]`` is the longest context length position i may use (``order - 1``, or less at the
        start of a text).
        """
        V = self.vocab_size
        if self.smoothing == "add-k":
            level_of = top
            p = np.full(len(targets), 1.0 / V)
            for j in range(self.order):
                level = self._levels[j]
                here = (level_of == j) & (contexts[j] >= 0)
                ctx, w = contexts[j, here], targets[here]
                found = level.find(ctx * V + w)
                count = np.where(found >= 0, level.counts[np.maximum(found, 0)], 0)
                p[here] = (count + self.k) / (level.context_total[ctx] + self.k * V)
            return p
        p = np.full(len(targets), 1.0 / V)  # the recursion starts from the uniform distribution
        for j in range(self.order):
            level = self._levels[j]
            here = (j <= top) & (contexts[j] >= 0)
            raw = here & (j == top)  # the longest context uses counts, shorter ones continuation counts
            ctx, w = contexts[j, here], targets[here]
            found = level.find(ctx * V + w)
            use_raw = raw[here]
            count_table = np.where(use_raw, level.counts[np.maximum(found, 0)],
                                   level.continuation[np.maximum(found, 0)])
            count = np.where(found >= 0, count_table, 0)
            total = np.where(use_raw, level.context_total[ctx], level.continuation_total[ctx])
            types = np.where(use_raw, level.context_types[ctx], level.continuation_types[ctx])
            lower = p[here]
            seen = total > 0
            safe_total = np.where(seen, total, 1)
            mixed = (np.maximum(count - self.discount, 0) + self.discount * types * lower) / safe_total
            p[here] = np.where(seen, mixed, lower)
        return p

    def encode(self, text: str) -> np.ndarray:
        """Character ids (unseen characters → ``<unk>``, id 0)."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        return np.asarray(self.tokenizer.encode(text), dtype=np.int64)

    def next_char_probabilities(self, context: str | np.ndarray = "") -> np.ndarray:
        """The (V,) distribution of the character after ``context`` (a str or ids); sums to 1.

        Index it with the tokenizer: ``p[model.tokenizer.index["e"]]``; ``p[0]`` is ``<unk>``.
        """
        ids = self.encode(context) if isinstance(context, str) else np.asarray(context, dtype=np.int64)
        ids = ids[max(0, len(ids) - (self.order - 1)):] if self.order > 1 else ids[:0]
        contexts = self._contexts(ids)[:, -1:]  # the position just after the context
        V = self.vocab_size
        top = np.full(V, len(ids))
        return self._probabilities(np.repeat(contexts, V, axis=1), top, np.arange(V))

    def next_logits(self, context_ids) -> np.ndarray:
        """Log-probabilities of the next character, usable as logits by ``llmcourse.generation``
        (softmax of log p is p)."""
        return np.log(self.next_char_probabilities(np.asarray(context_ids, dtype=np.int64)))

    def stored_ngrams(self) -> list[int]:
        """How many distinct n-grams are counted for n = 1 .. ``max_order`` (the model's size)."""
        return [len(level.keys) for level in self._levels]

    def seen_context_share(self, text: str) -> np.ndarray:
        """(order,) for n = 1 .. order: the share of the characters of ``text`` (those with at least
        n - 1 characters before them) whose n - 1 previous characters occur in the training text."""
        contexts = self._contexts(self.encode(text))[:, :-1]
        return np.asarray([np.mean(contexts[j, j:] >= 0) for j in range(self.order)])

    def log_probs(self, text: str) -> np.ndarray:
        r"""(len(text),) natural-log probabilities :math:`\ln P(x_t \mid x_{<t})` of every character
        of ``text``, each predicted from the characters before it in ``text``."""
        ids = self.encode(text)
        if len(ids) == 0:
            raise ValueError("cannot score an empty text")
        contexts = self._contexts(ids)[:, :-1]
        top = np.minimum(np.arange(len(ids)), self.order - 1)
        return np.log(self._probabilities(contexts, top, ids))
