"""Checkers for chapter 1, "What is a large language model?"."""

from __future__ import annotations

import math
from numbers import Real

from llmcourse.exercises import CheckResult, call_safely, failed, passed
from llmcourse.models.ngram import BigramCounts

# (tokens, word) pairs the learner's function is tried on, easiest first. Each one catches a
# different mistake: the basic count, a tie, a word followed by itself, a word that is also the
# last token (one of its occurrences has no successor), a word seen only at the very end, and a
# word never seen at all.
NEXT_WORD_CASES: list[tuple[list[str], str]] = [
    (["a", "b", "a", "c", "a", "b"], "a"),
    (["the", "cat", "sat", "on", "the", "mat"], "the"),
    (["a", "a", "a", "b"], "a"),
    (["a", "b", "a"], "a"),
    (["to", "be", "or", "not"], "not"),
    (["a", "b", "c"], "z"),
]


def expected_next_word_probabilities(tokens: list[str], word: str) -> dict[str, float]:
    """The reference answer: ``BigramCounts``' probabilities as a dict, ``{}`` when nothing follows ``word``."""
    try:
        return dict(BigramCounts(tokens).next_word_probabilities(word))
    except KeyError:
        return {}


def _fmt(p: float) -> str:
    return f"{p:.3g}"


def check_next_word_probabilities(function) -> CheckResult:
    """Check ``function(tokens, word) -> dict`` that gives P(next | word) for every word seen after ``word``.

    The answer must be a dict mapping each word that follows ``word`` somewhere in ``tokens`` to its
    probability, and ``{}`` when nothing ever follows ``word``.
    """
    for tokens, word in NEXT_WORD_CASES:
        expected = expected_next_word_probabilities(tokens, word)
        answer, error = call_safely(function, list(tokens), word)
        where = f"for word={word!r} and tokens={tokens}"
        if error is not None:
            if "NotImplementedError" in error.message:  # the untouched stub: no need for details
                return error
            if not expected:
                return failed(f"{where}: nothing ever follows {word!r}, so return an empty dict {{}} "
                              f"instead of raising; {error.message}")
            return failed(f"{where}: {error.message}")
        if answer is None:
            if (tokens, word) == NEXT_WORD_CASES[0]:  # most likely the untouched stub
                return failed("your function returned None — write its body so that it returns a "
                              "dict {next_word: probability}.")
            return failed(f"{where} your function returned None — it should return a dict.")
        if not isinstance(answer, dict):
            return failed(f"{where} your function returned a {type(answer).__name__}; return a dict "
                          "{next_word: probability}.")
        if not expected:
            if answer:
                return failed(f"{where}: nothing ever follows {word!r}, so the answer is an empty "
                              f"dict {{}}, got {answer}.")
            continue
        extra = sorted(set(answer) - set(expected), key=str)
        if extra:
            return failed(f"{where}: {extra[0]!r} never follows {word!r}, but your dict has it as "
                          f"a key (keys should be exactly {sorted(expected)}).")
        missing = sorted(set(expected) - set(answer))
        if missing:
            return failed(f"{where}: expected P({missing[0]!r} | {word!r}) = "
                          f"{_fmt(expected[missing[0]])}, but {missing[0]!r} is missing from your dict.")
        for nxt, p in expected.items():
            got = answer[nxt]
            if isinstance(got, bool) or not isinstance(got, Real):
                return failed(f"{where}: P({nxt!r} | {word!r}) should be a number, got {got!r}.")
            if not math.isclose(float(got), p, rel_tol=1e-6, abs_tol=1e-9):
                hint = ""
                if word == tokens[-1]:
                    hint = (f" Hint: {word!r} is also the last token, and that occurrence has no "
                            "next word — count pairs, not occurrences of the word.")
                return failed(f"{where}: expected {_fmt(p)} for P({nxt!r} | {word!r}), got "
                              f"{_fmt(float(got))}.{hint}")
    return passed(f"your function agrees with BigramCounts on all {len(NEXT_WORD_CASES)} test cases, "
                  "including a word followed by itself, a word that is also the last token, and a "
                  "word that is never followed by anything.")
