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
    r"""Score = (# positive keywords) − (# negative keywords); a negation turns the next keyword around.

    A positive score means "positive", a negative score "negative". When no keyword decides
    (score 0), the rule falls back to ``default`` — a guess, which the chapter counts separately.
    Written as a weighted sum, the rule is a linear model whose weights a person chose:

    .. math:: \text{score} = (+1) \cdot n_{\text{positive}} + (-1) \cdot n_{\text{negative}}
    """

    positive: frozenset = field(default=POSITIVE_WORDS)
    negative: frozenset = field(default=NEGATIVE_WORDS)
    negations: frozenset = field(default=NEGATIONS)
    default: int = 1

    def __post_init__(self) -> None:
        if self.default not in (0, 1):
            raise ValueError(f"default must be 0 (negative) or 1 (positive), got {self.default!r}")
        both = set(self.positive) & set(self.negative)
        if both:
            raise ValueError(f"words cannot be both positive and negative keywords: {sorted(both)}")

    def counts(self, sentence: str) -> tuple[int, int]:
        """(# positive, # negative) keywords in ``sentence``, after negations turned keywords around."""
        n_positive, n_negative, flip = 0, 0, False
        for token in words(sentence):
            if token in self.negations:
                flip = True  # "not good" counts as negative, "not bad" as positive
                continue
            value = (token in self.positive) - (token in self.negative)  # +1, -1 or 0
            if value:
                if flip:
                    value, flip = -value, False
                n_positive += value > 0
                n_negative += value < 0
        return n_positive, n_negative

    def score(self, sentence: str) -> int:
        """(# positive keywords) − (# negative keywords): > 0 positive, < 0 negative, 0 undecided."""
        n_positive, n_negative = self.counts(sentence)
        return n_positive - n_negative

    def predict(self, sentences: list[str]) -> np.ndarray:
        """1 (positive) or 0 (negative) for each sentence; ``default`` where the score is 0."""
        scores = np.array([self.score(s) for s in as_sentence_list(sentences)], dtype=np.int64)
        return np.where(scores > 0, 1, np.where(scores < 0, 0, self.default)).astype(np.int32)

    def undecided(self, sentences: list[str]) -> np.ndarray:
        """True where no keyword decided (score 0) and the rule had to guess."""
        return np.array([self.score(s) == 0 for s in as_sentence_list(sentences)], dtype=bool)

    def keyword_counts(self, sentences: list[str]) -> np.ndarray:
        """(n_sentences, 2) float32 features: the two counts of ``counts`` for each sentence.

        These are features chosen by people: a learned model can weigh them (chapter 2) instead of
        using the rule's fixed weights +1 and −1.
        """
        rows = [self.counts(s) for s in as_sentence_list(sentences)]
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), 2)


def as_sentence_list(sentences) -> list[str]:
    """``sentences`` as a list, refusing a lone string (which would be read character by character)."""
    if isinstance(sentences, str):
        raise TypeError("expected a list of sentences, got a single str; wrap it: [sentence]")
    return list(sentences)
