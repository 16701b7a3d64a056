"""Chapter 4, "Tokens: turning text into numbers": the BPE building blocks, the measurements in
``llmcourse.tokenstats``, the Korean helpers, the exercise checkers and the notebook's form. The
claims of its prose are asserted on the executed book in tests/test_claims_ch04.py."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import yaml

from llmcourse import korean, tokenstats
from llmcourse.data import wikipedia_text
from llmcourse.exercises import ch04
from llmcourse.tokenizers import (
    BPETokenizer, CharTokenizer, TokenizerError, WordTokenizer, chunks, count_pairs, merge_pair,
    most_frequent_pair, train_bpe_merges, train_bpe_merges_naive, words,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "chapters" / "04_tokens.ipynb"
KOREAN_SENTENCE = "LLM은 다음에 올 단어를 예측한다"


# ============================================================================ BPE building blocks
def test_count_pairs_counts_overlapping_neighbours():
    assert count_pairs([1, 2, 1, 2]) == {(1, 2): 2, (2, 1): 1}
    assert count_pairs([7, 7, 7]) == {(7, 7): 2}
    assert count_pairs([]) == {} and count_pairs([5]) == {}


@pytest.mark.parametrize("ids, pair, expected", [
    ([1, 2, 3, 1, 2], (1, 2), [9, 3, 9]),
    ([7, 7, 7], (7, 7), [9, 7]),  # left to right, a token is never reused
    ([7, 7, 7, 7], (7, 7), [9, 9]),
    ([1, 2], (2, 1), [1, 2]),  # the pair is ordered
    ([], (1, 2), []),
    ([3], (3, 3), [3]),
    ((3, 1, 2), (1, 2), [3, 9]),  # any sequence in, a list out
])
def test_merge_pair(ids, pair, expected):
    before = list(ids)
    assert merge_pair(ids, pair, 9) == expected
    assert list(ids) == before  # the input is not changed


def test_most_frequent_pair_breaks_ties_by_the_smallest_pair():
    assert most_frequent_pair({(5, 6): 3, (1, 2): 3, (0, 9): 2}) == (1, 2)
    with pytest.raises(TokenizerError, match="no pairs to choose from"):
        most_frequent_pair({})


def test_shorter_training_is_a_prefix_of_longer_training():
    text = wikipedia_text("train", max_chars=30_000)
    assert train_bpe_merges(text, 300) == train_bpe_merges(text, 400)[:44]


@pytest.mark.slow
def test_incremental_and_naive_trainers_agree_on_wikipedia():
    text = wikipedia_text("train", max_chars=60_000)
    assert train_bpe_merges(text, 256 + 120) == train_bpe_merges_naive(text, 256 + 120)


# ============================================================================ tokenstats (unit)
SMALL_TRAIN = "the cat sat on the mat. the dog sat on the log. a cat and a dog." * 5
SMALL_EVAL = "the cat sat on the zebra. a dog and a yak."


def test_tokens_per_char_and_unknown_rate():
    char = CharTokenizer.train(SMALL_TRAIN)
    word = WordTokenizer.train(SMALL_TRAIN)
    bpe = BPETokenizer.train(SMALL_TRAIN, 280)
    assert tokenstats.tokens_per_char(char, SMALL_EVAL) == 1.0
    assert tokenstats.unknown_rate(char, SMALL_EVAL) == pytest.approx(sum(c not in SMALL_TRAIN for c in SMALL_EVAL) / len(SMALL_EVAL))
    assert tokenstats.unknown_rate(word, SMALL_EVAL) == pytest.approx(2 / len(words(SMALL_EVAL)))  # zebra, yak
    assert tokenstats.unknown_rate(bpe, SMALL_EVAL) == 0.0
    assert tokenstats.tokens_per_char(bpe, SMALL_EVAL) == len(bpe.encode(SMALL_EVAL)) / len(SMALL_EVAL)


@pytest.mark.parametrize("bad", ["", None])
def test_measurements_refuse_empty_or_non_text(bad):
    char = CharTokenizer.train("abc")
    with pytest.raises((TokenizerError, TypeError)):
        tokenstats.tokens_per_char(char, bad)
    with pytest.raises((TokenizerError, TypeError)):
        tokenstats.unknown_rate(char, bad)


def test_sweep_sizes():
    assert tokenstats.sweep_sizes(1024) == [256, 512, 1024]
    assert tokenstats.sweep_sizes(1000) == [256, 512, 1000]
    assert tokenstats.sweep_sizes(256) == [256]
    for bad in (100, 255.0, None):
        with pytest.raises(TokenizerError, match="max_size must be an int >= 256"):
            tokenstats.sweep_sizes(bad)


def test_vocabulary_sweep_on_a_small_text():
    assert len(train_bpe_merges(SMALL_TRAIN, 1000)) < 300 - 256  # the text runs out of pairs first
    points = tokenstats.vocabulary_sweep(SMALL_TRAIN, SMALL_EVAL, [256, 270, 300])
    word, char, bpe = (tokenstats.of_kind(points, k) for k in ("word", "char", "bpe"))
    assert len(char) == 1 and char[0].tokens_per_char == 1.0
    # the text has 12 distinct words: only the full-vocabulary word point fits
    assert [p.vocab_size for p in word] == [len(set(words(SMALL_TRAIN))) + 1]
    assert [p.vocab_size for p in bpe] == [256, 270]  # 300 is out of reach: skipped
    assert all(p.unknown_rate == 0 for p in bpe)
    tpc = [p.tokens_per_char for p in bpe]
    assert tpc == sorted(tpc, reverse=True)
    # passing the merges gives the same points as training them inside
    merges = train_bpe_merges(SMALL_TRAIN, 300)
    assert tokenstats.vocabulary_sweep(SMALL_TRAIN, SMALL_EVAL, [256, 270, 300], merges=merges) == points


def test_vocabulary_sweep_refuses_bad_input():
    with pytest.raises(TokenizerError, match="sizes must be >= 256"):
        tokenstats.vocabulary_sweep(SMALL_TRAIN, SMALL_EVAL, [100])
    with pytest.raises(TokenizerError, match="eval_text is empty"):
        tokenstats.vocabulary_sweep(SMALL_TRAIN, "", [256])
    with pytest.raises(TypeError, match="train_text must be a str"):
        tokenstats.vocabulary_sweep(None, SMALL_EVAL, [256])
    with pytest.raises(ValueError, match="unknown kind"):
        tokenstats.of_kind([], "sentencepiece")


def test_unknown_words_and_split_share():
    word = WordTokenizer.train(SMALL_TRAIN)
    assert tokenstats.unknown_words(word, SMALL_EVAL + " zebra") == [("zebra", 2), ("yak", 1)]
    bytes_only = BPETokenizer.train(SMALL_TRAIN, 256)  # every word chunk has 2+ bytes: all split
    assert tokenstats.split_words_share(bytes_only, "the cat a") == 1.0
    the = BPETokenizer.train("the the the the", 1000)  # learns "th", "the", " the"
    assert tokenstats.split_words_share(the, "the the cat") == pytest.approx(1 / 3)
    with pytest.raises(TokenizerError, match="no words"):
        tokenstats.split_words_share(bytes_only, "123 !")


# ============================================================================ korean (unit)
def test_utf8_lengths_and_chunks_the_prose_states():
    # "English letters are one byte each, accented Latin letters two, a Hangul syllable three and an
    # emoji four"; the chunks of "The cat's 2 hats, 1999!"
    assert [len(c.encode("utf-8")) for c in ["a", "é", "한", "😀"]] == [1, 2, 3, 4]
    assert chunks("The cat's 2 hats, 1999!") == ["The", " cat", "'", "s", " 2", " hats", ",", " 1999", "!"]


def test_the_korean_sentence_in_three_units():
    # "Every syllable block is one character, two or three jamo, and three bytes; LLM is three
    # characters and three bytes"
    for syllable in KOREAN_SENTENCE:
        if korean.is_syllable(syllable):
            assert len(korean.decompose(syllable)) in (2, 3) and len(syllable.encode()) == 3
    assert len("LLM") == len("LLM".encode()) == 3


def test_decompose_is_nfd_for_every_syllable_block():
    assert korean.N_INITIALS * korean.N_VOWELS * korean.N_FINALS == 11_172  # "11,172 possible blocks"
    assert korean.LAST_SYLLABLE - korean.FIRST_SYLLABLE + 1 == 11_172
    assert korean.N_FINALS - 1 == 27  # 27 final consonants, plus "none"
    for code in range(korean.FIRST_SYLLABLE, korean.LAST_SYLLABLE + 1):
        syllable = chr(code)
        assert korean.decompose(syllable) == tuple(unicodedata.normalize("NFD", syllable))


@pytest.mark.parametrize("bad", ["a", "한국", "", "ㅎ", None])
def test_decompose_refuses_anything_but_one_block(bad):
    with pytest.raises(ValueError, match="not a single Hangul syllable block"):
        korean.decompose(bad)


def test_readable_jamo_final_consonants_and_unit_counts():
    assert korean.readable_jamo("예측한다") == "ㅇㅖㅊㅡㄱㅎㅏㄴㄷㅏ"
    assert korean.readable_jamo("LLM은") == "LLMㅇㅡㄴ"
    assert korean.has_final_consonant("책") and not korean.has_final_consonant("교")
    assert korean.unit_counts("한국어 토큰") == {"characters": 6, "jamo": 14, "bytes": 16}
    with pytest.raises(TypeError):
        korean.jamo(3)
    with pytest.raises(TypeError):
        korean.unit_counts(None)


def test_toy_corpus_is_korean_and_ours():
    lines = korean.TOY_CORPUS.splitlines()
    assert len(lines) >= 20 and all(any(korean.is_syllable(c) for c in line) for line in lines)


@pytest.mark.slow  # loads Kiwi's model (a few seconds)
def test_morphemes_with_kiwi_offline():
    assert korean.morphemes("예측한다") == [("예측", "NNG"), ("하", "XSV"), ("ㄴ다", "EF")]
    assert korean.morphemes("  ") == []
    with pytest.raises(TypeError):
        korean.morphemes(None)
    forms = korean.word_forms_by_stem("학교는 크다. 학교가 멀다. 책을 읽는다.")
    assert forms["학교"] == ["학교가", "학교는"] and forms["책"] == ["책을"]


# ============================================================================ the exercise checkers
def solution_count_pairs(ids):  # the notebook's solution
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def solution_merge_pair(ids, pair, new_id):  # the notebook's solution
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def test_checkers_pass_the_solutions_and_the_package():
    for result in (ch04.check_merge_pair(solution_merge_pair), ch04.check_merge_pair(merge_pair),
                   ch04.check_count_pairs(solution_count_pairs), ch04.check_count_pairs(count_pairs),
                   ch04.check_count_pairs(lambda ids: Counter(zip(ids, ids[1:])))):
        assert result.passed, result.message
        assert str(result).startswith("✅ passed")


def merge_without_skipping(ids, pair, new_id):
    out = []
    for i, x in enumerate(ids):
        out.append(new_id if i + 1 < len(ids) and (x, ids[i + 1]) == pair else x)
    return out


def merge_every_start(ids, pair, new_id):  # merges both overlapping occurrences in 7, 7, 7
    out = []
    for i, x in enumerate(ids):
        if i + 1 < len(ids) and (x, ids[i + 1]) == pair:
            out.append(new_id)
        elif not (i > 0 and (ids[i - 1], x) == pair):
            out.append(x)
    return out


def merge_stops_before_the_end(ids, pair, new_id):
    out, i = [], 0
    while i + 1 < len(ids):
        if (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_misses_the_last_pair(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 2 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_in_place(ids, pair, new_id):
    ids[:] = merge_pair(ids, pair, new_id)
    return ids


@pytest.mark.parametrize("wrong, expected_message", [
    (merge_without_skipping, "merge_pair([1, 2, 3, 1, 2], (1, 2), 99): expected [99, 3, 99], got [99, 2, 3, 99, 2]. "
                             "Hint: a merged pair uses up two tokens"),
    (merge_every_start, "merge_pair([7, 7, 7], (7, 7), 256): expected [256, 7], got [256, 256]. Hint: a run like 7, 7, 7"),
    (merge_stops_before_the_end, "merge_pair([5], (5, 5), 99): expected [5], got []. Hint: the last id is missing"),
    (merge_misses_the_last_pair, "expected [99, 3, 99], got [99, 3, 1, 2]. Hint: the pair can end exactly at the end"),
    (lambda ids, pair, new_id: list(ids), "got [1, 2, 3, 1, 2]. Hint: nothing was merged"),
    (lambda ids, pair, new_id: merge_pair(ids, pair[::-1], new_id) if ids[:1] == [1] and len(ids) == 3 else merge_pair(ids, pair, new_id),
     "Hint: the pair is ordered: (2, 1) means 2 followed by 1"),
    (merge_in_place, "your function changed the list it was given"),
    (lambda ids, pair, new_id: None, "returned None"),
    (lambda ids, pair, new_id: "99 3 99", "returned a str; return a list of ids"),
    (lambda ids, pair, new_id: [str(x) for x in merge_pair(ids, pair, new_id)], "every id should be an int"),
])
def test_merge_checker_explains_wrong_answers(wrong, expected_message):
    result = ch04.check_merge_pair(wrong)
    assert not result.passed
    assert expected_message in result.message, result.message
    assert str(result).startswith("❌ not yet")


@pytest.mark.parametrize("wrong, expected_message", [
    (lambda ids: Counter(zip(ids[:-1], ids[1:-1])), "count_pairs([1, 2, 3]): the pair (2, 3) is missing"),
    (lambda ids: dict.fromkeys(zip(ids, ids[1:]), 1), "expected (1, 2) to occur 2 time(s), got 1"),
    (lambda ids: {**Counter(zip(ids, ids[1:])), **dict.fromkeys(zip(ids, ids[1:]), 1)} if ids == [7, 7, 7]
     else Counter(zip(ids, ids[1:])), "Hint: pairs overlap"),
    (lambda ids: list(zip(ids, ids[1:])), "returned a list; return a dict"),
    (lambda ids: Counter(zip(ids[1:], ids)), "(2, 1) is not a pair of neighbours in [1, 2, 3]"),
    (lambda ids: Counter(ids), "keys should be pairs (a, b)"),
    (lambda ids: {k: float(v) for k, v in Counter(zip(ids, ids[1:])).items()}, "counts should be ints"),
    (lambda ids: None, "returned None"),
])
def test_count_checker_explains_wrong_answers(wrong, expected_message):
    result = ch04.check_count_pairs(wrong)
    assert not result.passed
    assert expected_message in result.message, result.message


def test_checkers_report_stubs_errors_and_non_functions():
    def stub(*args):
        raise NotImplementedError

    for check in (ch04.check_merge_pair, ch04.check_count_pairs):
        assert check(stub).message.startswith("the function still raises NotImplementedError")
        assert "expected a function" in check(42).message
        result = check(lambda *args: args[0][99])
        assert not result.passed and "raised IndexError" in result.message


def test_checkers_do_not_let_the_learner_change_their_cases():
    def clears(ids, *rest):
        ids.clear()
        return []

    ch04.check_merge_pair(clears)
    ch04.check_count_pairs(clears)
    assert ch04.MERGE_CASES[0][0] == [1, 2, 3, 1, 2] and ch04.COUNT_CASES[0] == [1, 2, 3]


# ============================================================================ the notebook's form
def _notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")





def test_chapter_is_in_part_three_of_the_toc_before_the_appendix():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    captions = [part["caption"] for part in toc["parts"]]
    part = next(p for p in toc["parts"] if p["caption"] == "Part III — Language models")
    assert {"file": "chapters/04_tokens"} in part["chapters"]
    assert captions.index("Part III — Language models") < captions.index("Appendix")








def test_exercises_each_have_a_dropdown_solution_and_checkers_are_called():
    text = _markdown(_notebook())
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label: (ex04-[\w-]+)", text)
    solutions = re.findall(r"`{3,4}\{solution\} (ex04-[\w-]+)\n:class: dropdown", text)
    assert len(labels) >= 3 and sorted(labels) == sorted(solutions)
    assert "solution-start" not in text and "solution-end" not in text
    code = _code(_notebook())
    assert "ch04.check_merge_pair(merge_pair)" in code and "ch04.check_count_pairs(count_pairs)" in code


def test_korean_terms_are_given_at_first_use():
    text = _markdown(_notebook())
    for term in ["tokenizer (토크나이저)", "vocabulary (어휘)", "token (토큰)", "subwords (서브워드)", "morphemes (형태소)"]:
        assert term in text, term


def test_figures_carry_no_hangul():
    """matplotlib's default font has no Hangul glyphs: Korean goes in tables and printed text only."""
    for cell in _notebook().cells:
        if cell.cell_type == "code" and "plt." in cell.source:
            for line in cell.source.splitlines():
                if re.search(r"\.(bar|plot|text|annotate|set_\w+|legend)\(", line) or "label" in line:
                    assert not any(korean.is_syllable(c) for c in line), line


# (the notebook and every solution are run by tests/test_notebooks.py, once per test session)
