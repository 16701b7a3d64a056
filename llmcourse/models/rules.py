"""A rule-based program: sentiment from hand-written keyword lists.

This is what programming looked like before machine learning: a person decides which words signal
a positive or a negative review and writes the rule down. The lists below were written from general
English before looking at the course's review sentences, as a programmer would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from llmcourse.tokenizers import words

POSITIVE_WORDS = frozenset(
    """good great best better excellent wonderful amazing brilliant beautiful fun funny enjoyable
    entertaining love loved lovely moving touching charming delightful fine powerful perfect
    fascinating compelling clever smart witty fresh original engaging impressive remarkable
    masterpiece superb solid strong rich warm sweet heartfelt memorable thoughtful intelligent
    inspiring satisfying refreshing gorgeous stunning terrific pleasure worth enjoy enjoyed""".split()
)
NEGATIVE_WORDS = frozenset(
    """bad worse worst awful terrible boring bored dull tedious stupid silly poor weak mess messy
    waste wasted fails failed failure flat lame annoying ugly pointless predictable mediocre
    disappointing disappointment unfunny tired tiresome slow bland empty shallow thin clumsy
    horrible dreadful hate hated painful ridiculous cliche cliched forgettable lifeless
    pretentious overlong confusing""".split()
)
NEGATIONS = frozenset({"not", "no", "never", "n't", "isn't", "doesn't", "don't", "wasn't", "hardly"})


@dataclass(frozen=True)
class KeywordRules:
    """Score = (# positive keywords) − (# negative keywords); a negation flips the next keyword.

    A positive score means "positive", a negative score "negative". When no keyword decides
    (score 0), the rule falls back to ``default`` — a guess, which the chapter counts separately.
    """

    positive: frozenset = field(default=POSITIVE_WORDS)
    negative: frozenset = field(default=NEGATIVE_WORDS)
    negations: frozenset = field(default=NEGATIONS)
    default: int = 1

    def score(self, sentence: str) -> int:
        total, flip = 0, False
        for token in words(sentence):
            if token in self.negations:
                flip = True
                continue
            value = (token in self.positive) - (token in self.negative)
            if value:
                total += -value if flip else value
                flip = False
        return total

    def predict(self, sentences: list[str]) -> np.ndarray:
        """1 (positive) or 0 (negative) for each sentence."""
        scores = np.array([self.score(s) for s in sentences])
        return np.where(scores > 0, 1, np.where(scores < 0, 0, self.default)).astype(np.int32)

    def undecided(self, sentences: list[str]) -> np.ndarray:
        """True where no keyword decided and the rule had to guess."""
        return np.array([self.score(s) == 0 for s in sentences])
