"""Counting models of text: the next word predicted from counts of what followed before."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np


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
