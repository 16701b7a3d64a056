"""Chapter 1, "What is a large language model?": BigramCounts, the exercise checker and the notebook's
form. The claims of its prose are asserted on the executed book in tests/test_claims_ch01.py."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.data import wikipedia_text
from llmcourse.exercises import ch01
from llmcourse.models.ngram import BigramCounts
from llmcourse.tokenizers import words

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "chapters" / "01_what_is_an_llm.ipynb"


# ============================================================================ BigramCounts (unit)
SMALL = "the cat sat on the mat . the cat ate .".split()


def test_probabilities_sum_to_one_for_every_word():
    model = BigramCounts(SMALL)
    for word in model.pairs:
        assert math.isclose(sum(p for _, p in model.next_word_probabilities(word)), 1.0)


def test_probabilities_are_shares_of_pair_counts_most_frequent_first():
    model = BigramCounts(SMALL)
    assert model.next_word_probabilities("the") == [("cat", 2 / 3), ("mat", 1 / 3)]
    assert model.next_word_probabilities("cat") == [("sat", 0.5), ("ate", 0.5)]  # tie: first seen first


def test_top_k_keeps_shares_of_the_whole_total():
    model = BigramCounts(SMALL)
    assert model.next_word_probabilities("the", k=1) == [("cat", 2 / 3)]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must be a positive int"):
            model.next_word_probabilities("the", k=bad)


def test_a_word_followed_by_itself_counts_every_overlapping_pair():
    model = BigramCounts(["a", "a", "a", "b"])
    assert dict(model.next_word_probabilities("a")) == {"a": 2 / 3, "b": 1 / 3}


def test_vocabulary_counts_every_distinct_token_including_the_last():
    assert BigramCounts(["x", "y", "x", "z"]).vocabulary_size == 3
    assert BigramCounts(SMALL).vocabulary_size == len(set(SMALL))


@pytest.mark.parametrize("tokens", [[], ["only"], iter(["one"])])
def test_fewer_than_two_tokens_is_a_clear_value_error(tokens):
    with pytest.raises(ValueError, match="at least 2 tokens"):
        BigramCounts(tokens)


def test_unknown_words_raise_key_error_naming_the_word():
    model = BigramCounts(SMALL)
    with pytest.raises(KeyError, match="'dog'"):
        model.next_word_probabilities("dog")
    with pytest.raises(KeyError, match="'dog'"):
        model.generate("dog", 5)


def test_a_word_seen_only_at_the_end_has_no_successor():
    model = BigramCounts(["a", "b", "c"])
    with pytest.raises(KeyError, match="never appears before another word"):
        model.next_word_probabilities("c")
    assert model.generate("c", 5) == ["c"]  # known word, nothing follows: stops at once
    assert model.generate("a", 5, greedy=True) == ["a", "b", "c"]  # stops at the end of the text


def test_generate_is_deterministic_for_a_seed_and_greedy_ignores_it():
    tokens = words(wikipedia_text("train", max_chars=50_000))
    model = BigramCounts(tokens)
    first = model.generate("the", 30, seed=7)
    assert model.generate("the", 30, seed=7) == first
    assert model.generate("the", 30, seed=8) != first
    assert len(first) == 31 and first[0] == "the"
    assert model.generate("the", 30, seed=1, greedy=True) == model.generate("the", 30, seed=2, greedy=True)
    assert model.generate("the", 0) == ["the"]
    with pytest.raises(ValueError, match="n_words must be >= 0"):
        model.generate("the", -1)


def test_greedy_takes_the_most_probable_word():
    model = BigramCounts(SMALL)
    out = model.generate("the", 3, greedy=True)
    assert out[:2] == ["the", "cat"]
    for prev, nxt in zip(out, out[1:]):
        assert nxt == model.next_word_probabilities(prev, k=1)[0][0]


def test_sampling_uses_only_pairs_seen_in_training():
    # the prose: "Every *pair* of neighbouring words is plausible English, since each pair occurred
    # somewhere in Wikipedia"
    model = BigramCounts(words(wikipedia_text("train", max_chars=50_000)))
    for seed in range(3):
        sample = model.generate("the", 50, seed=seed)
        assert all(nxt in model.pairs[prev] for prev, nxt in zip(sample, sample[1:]))


def test_the_word_rule_the_prose_states():
    # "lower-case everything, keep words whole, and make every punctuation mark a token of its own"
    assert words('Seoul, "well-known" city.') == ["seoul", ",", '"', "well-known", '"', "city", "."]


def test_the_cat_sat_on_the_mat_example():
    # "P(cat | the) = P(mat | the) = 1/2; every other word gets probability zero after the"
    probs = dict(BigramCounts("the cat sat on the mat".split()).next_word_probabilities("the"))
    assert probs == {"cat": 0.5, "mat": 0.5}


# ============================================================================ the exercise checker
def reference_solution(tokens, word):  # the solution the notebook shows
    followers = Counter(nxt for prev, nxt in zip(tokens, tokens[1:]) if prev == word)
    total = sum(followers.values())
    return {nxt: count / total for nxt, count in followers.items()}


def test_checker_passes_the_solution():
    result = ch01.check_next_word_probabilities(reference_solution)
    assert result.passed, result.message
    assert str(result).startswith("✅ passed")


def test_checker_reference_agrees_with_bigram_counts_on_every_case():
    for tokens, word in ch01.NEXT_WORD_CASES:
        assert ch01.expected_next_word_probabilities(tokens, word) == pytest.approx(reference_solution(tokens, word))


def divides_by_occurrences(tokens, word):  # a classic slip: the last token starts no pair
    followers = Counter(nxt for prev, nxt in zip(tokens, tokens[1:]) if prev == word)
    return {nxt: count / tokens.count(word) for nxt, count in followers.items()}


def returns_counts(tokens, word):
    return dict(Counter(nxt for prev, nxt in zip(tokens, tokens[1:]) if prev == word))


def crashes_on_unknown_word(tokens, word):
    return dict(BigramCounts(tokens).next_word_probabilities(word))


def includes_zero_probabilities(tokens, word):
    probs = reference_solution(tokens, word)
    return {w: probs.get(w, 0.0) for w in set(tokens)} if probs else {}


def counts_next_occurrence_only(tokens, word):  # looks only at the first occurrence of the word
    i = tokens.index(word) if word in tokens else None
    return {} if i is None or i + 1 >= len(tokens) else {tokens[i + 1]: 1.0}


@pytest.mark.parametrize(
    "wrong, expected_message",
    [
        (returns_counts, "tokens=['a', 'b', 'a', 'c', 'a', 'b']: expected 0.667 for P('b' | 'a'), got 2."),
        (divides_by_occurrences, "expected 1 for P('b' | 'a'), got 0.5. Hint: 'a' is also the last token"),
        (crashes_on_unknown_word, "nothing ever follows 'not', so return an empty dict {} instead of raising"),
        (includes_zero_probabilities, "never follows 'a', but your dict has it as a key"),
        (counts_next_occurrence_only, "expected P('c' | 'a') = 0.333, but 'c' is missing"),
        (lambda tokens, word: list(reference_solution(tokens, word).items()), "returned a list"),
        (lambda tokens, word: None, "returned None — write its body"),
        (lambda tokens, word: reference_solution(tokens, word) if word == "a" else None,
         "tokens=['the', 'cat', 'sat', 'on', 'the', 'mat'] your function returned None"),
        (lambda tokens, word: {k: str(v) for k, v in reference_solution(tokens, word).items()}, "should be a number"),
    ],
)
def test_checker_explains_wrong_answers(wrong, expected_message):
    result = ch01.check_next_word_probabilities(wrong)
    assert not result.passed
    assert expected_message in result.message, result.message
    assert str(result).startswith("❌ not yet")


def test_checker_reports_a_function_that_raises():
    def buggy(tokens, word):
        return {tokens[99]: 1.0}

    result = ch01.check_next_word_probabilities(buggy)
    assert not result.passed
    assert "raised IndexError" in result.message and "tokens=['a', 'b', 'a', 'c', 'a', 'b']" in result.message


def test_checker_says_not_yet_for_the_untouched_stub_and_for_a_non_function():
    def stub(tokens, word):
        raise NotImplementedError

    result = ch01.check_next_word_probabilities(stub)
    assert not result.passed and result.message.startswith("the function still raises NotImplementedError")
    assert "expected a function" in ch01.check_next_word_probabilities(42).message


def test_checker_does_not_let_the_learner_mutate_its_cases():
    def mutating(tokens, word):
        tokens.clear()
        return {}

    ch01.check_next_word_probabilities(mutating)
    assert ch01.NEXT_WORD_CASES[0][0] == ["a", "b", "a", "c", "a", "b"]


# ============================================================================ the notebook's form
def _notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")











def test_exercises_each_have_a_dropdown_solution_and_no_gated_solutions():
    text = _markdown(_notebook())
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label: (ex01-[\w-]+)", text)
    solutions = re.findall(r"`{3,4}\{solution\} (ex01-[\w-]+)\n:class: dropdown", text)
    assert len(labels) >= 3 and sorted(labels) == sorted(solutions)
    assert "solution-start" not in text and "solution-end" not in text
    assert "check_next_word_probabilities" in _code(_notebook())


# (the notebook and every solution are run by tests/test_notebooks.py, once per test session)


# ============================================================================ property test
@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from("abcde"), min_size=2, max_size=40))
def test_bigram_counts_agree_with_a_direct_count_on_any_text(tokens):
    model = BigramCounts(tokens)
    for word in set(tokens[:-1]):
        probs = dict(model.next_word_probabilities(word))
        assert probs == pytest.approx(reference_solution(tokens, word))
        assert math.isclose(sum(probs.values()), 1.0)
    assert model.vocabulary_size == len(set(tokens))
