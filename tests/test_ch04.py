"""Chapter 4, "Tokens: turning text into numbers": the BPE building blocks, the measurements in
``llmcourse.tokenstats``, the Korean helpers, the exercise checkers, the notebook's form, and every
number or comparison its prose states (claims), at the ``cpu`` preset."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import yaml

from llmcourse import korean, tokenstats
from llmcourse.config import preset
from llmcourse.data import wikipedia_articles, wikipedia_text
from llmcourse.exercises import ch04
from llmcourse.tokenizers import (
    BPETokenizer, CharTokenizer, TokenizerError, WordTokenizer, chunks, count_pairs, merge_pair,
    most_frequent_pair, train_bpe_merges, train_bpe_merges_naive, words,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "chapters" / "04_tokens.ipynb"
SENTENCE = "Tokenizers turn text into numbers."  # the notebook's sentence
KOREAN_SENTENCE = "LLM은 다음에 올 단어를 예측한다"
ENGLISH_SENTENCE = "An LLM predicts the next word"
TOY_TEXT = "the cat sat on the mat; the hat sat on the cat"
TOY_KO_MERGES = 150


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


def _solution_code_blocks(nb) -> dict[str, str]:
    blocks = {}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for label, body in re.findall(r"````\{solution\} (ex04-[\w-]+)\n(.*?)\n````", cell.source, re.S):
            code = re.findall(r"```python\n(.*?)\n```", body, re.S)
            if code:
                blocks[label] = "\n".join(code)
    return blocks


# (the notebook and every solution are run by tests/test_notebooks.py, once per test session)


# ============================================================================ claims (cpu preset)
CFG = preset("cpu")


@pytest.fixture(scope="module")
def corpus():
    train = wikipedia_text("train", max_chars=CFG.tokens.train_chars)
    val = wikipedia_text("validation")
    return train, val


@pytest.fixture(scope="module")
def tokenizers(corpus):
    train, _ = corpus
    return CharTokenizer.train(train), WordTokenizer.train(train), BPETokenizer.train(train, CFG.tokens.bpe_vocab_size)


@pytest.fixture(scope="module")
def sweep(corpus, tokenizers):
    train, val = corpus
    points = tokenstats.vocabulary_sweep(train, val, tokenstats.sweep_sizes(CFG.tokens.bpe_vocab_size),
                                         merges=tokenizers[2].merges)
    return {kind: tokenstats.of_kind(points, kind) for kind in tokenstats.KINDS}


@pytest.mark.slow
def test_claim_three_tokenizers_on_one_sentence(tokenizers):
    char, word, bpe = tokenizers
    n_char, n_word, n_bpe = (len(t.encode(SENTENCE)) for t in tokenizers)
    assert n_char == len(SENTENCE)  # "one token per character"
    assert n_word < n_bpe < n_char  # "the word tokenizer needs only ..."
    assert "tokenizers" not in word.index  # "has no entry for *tokenizers*"
    assert word.decode(word.encode(SENTENCE)).startswith("<unk> ")  # "becomes <unk>"
    assert bpe.decode(bpe.encode(SENTENCE)) == SENTENCE  # "decodes to exactly the sentence"
    assert char.decode(char.encode(SENTENCE)) == SENTENCE
    assert word.vocab_size == len(set(words(wikipedia_text("train", max_chars=CFG.tokens.train_chars)))) + 1


@pytest.mark.slow
def test_claim_the_sweep(sweep, corpus):
    _, val = corpus
    word, char, bpe = sweep["word"], sweep["char"], sweep["bpe"]
    # "The word line is flat"
    assert len({p.tokens_per_char for p in word}) == 1
    # "starts ... with nothing but the 256 bytes (a little over one token per character)"
    assert bpe[0].vocab_size == 256 and 1 < bpe[0].tokens_per_char < 1.05
    # "falls with every doubling of the vocabulary"
    tpc = [p.tokens_per_char for p in bpe]
    assert all(a > b for a, b in zip(tpc, tpc[1:]))
    assert bpe[-1].vocab_size == CFG.tokens.bpe_vocab_size
    # "... times shorter than the same text as characters"
    assert char[0].tokens_per_char == 1.0 and char[0].tokens_per_char / bpe[-1].tokens_per_char > 3
    # "With the 256 most frequent words ... unknown; even with all entries ... still are"
    unk = [p.unknown_rate for p in word]
    assert word[0].vocab_size == 256 and all(a > b for a, b in zip(unk, unk[1:]))
    assert word[0].unknown_rate > 0.3 and word[-1].unknown_rate > 0.03
    assert word[-1].vocab_size == max(p.vocab_size for p in word + bpe + char)  # "the rightmost red point"
    # "BPE's line lies on zero"; characters: "a handful of unknown ones"
    assert all(p.unknown_rate == 0 for p in bpe)
    n_unknown_chars = round(char[0].unknown_rate * len(val))
    assert 0 < n_unknown_chars < 100 and char[0].unknown_rate < 0.001
    # "BPE's sequences are ... times as long as word sequences"
    assert bpe[-1].tokens_per_char > word[-1].tokens_per_char


@pytest.mark.slow
def test_claim_bpe_spells_unknown_words_and_keeps_most_words_whole(tokenizers, corpus):
    _, val = corpus
    _, word, bpe = tokenizers
    missing = tokenstats.unknown_words(word, val, k=10)
    assert len(missing) == 10
    for w, _ in missing:  # "Each unknown word is spelled with pieces BPE knows"
        ids = bpe.encode(" " + w)
        assert len(ids) >= 2 and bpe.decode(ids) == " " + w
    assert tokenstats.split_words_share(bpe, val) < 0.5  # "most words cost a single token"


def test_claim_utf8_lengths_and_chunks():
    assert [len(c.encode("utf-8")) for c in ["a", "é", "한", "😀"]] == [1, 2, 3, 4]
    assert chunks("The cat's 2 hats, 1999!") == ["The", " cat", "'", "s", " 2", " hats", ",", " 1999", "!"]


def test_claim_the_toy_merges():
    sequences = [list(c.encode("utf-8")) for c in chunks(TOY_TEXT)]
    merges = []
    n_start = sum(map(len, sequences))
    for _ in range(8):  # as in the notebook
        counts = Counter()
        for ids in sequences:
            counts.update(count_pairs(ids))
        pair = most_frequent_pair(counts)
        merges.append(pair)
        sequences = [merge_pair(ids, pair, 255 + len(merges)) for ids in sequences]
    n_end = sum(map(len, sequences))
    assert merges == train_bpe_merges(TOY_TEXT, 256 + 8) == train_bpe_merges_naive(TOY_TEXT, 256 + 8)
    tok = BPETokenizer(merges)
    strings = tok.token_strings(range(256, 264))
    assert strings[0] == "at"  # "The first merges join letters ... (a + t)"
    assert " the" in strings and " cat" in strings  # "... combine further, with the leading space, into whole words"
    assert n_end < n_start


@pytest.mark.slow
def test_claim_the_wikipedia_merges(tokenizers):
    bpe = tokenizers[2]
    merged = bpe.token_strings(range(256, bpe.vocab_size))
    first, last = merged[:24], merged[-12:]
    assert "he" in first and "in" in first  # "pair up common letters (h + e, i + n)"
    assert any(len(t) == 2 and t[0] == " " and t[1].isalpha() for t in first)  # "attach letters to the space"
    assert merged.index(" the") + 1 <= 10  # "the, with its space, is already merge number ..."
    # "The last ... merges are whole, less common words with their leading space, and years"
    assert sum(t.startswith(" ") and t[1:].isalpha() and len(t) >= 5 for t in last) >= len(last) // 2
    assert any(re.fullmatch(r" \d{4}", t) for t in last)
    # "*"the"* and *" the"*" are different tokens
    assert {"the", " the"} <= set(bpe.token_strings(range(bpe.vocab_size)))
    assert len(bpe.encode(" the")) == 1 and len(bpe.encode("the")) == 1


@pytest.mark.slow
def test_claim_korean_in_an_english_bpe(tokenizers, corpus):
    train, _ = corpus
    bpe = tokenizers[2]
    for syllable in KOREAN_SENTENCE:  # "one character, two or three jamo, and three bytes"
        if korean.is_syllable(syllable):
            assert len(korean.decompose(syllable)) in (2, 3) and len(syllable.encode()) == 3
    assert len("LLM") == len("LLM".encode()) == 3
    ko_ids, en_ids = bpe.encode(KOREAN_SENTENCE), bpe.encode(ENGLISH_SENTENCE)
    assert len(KOREAN_SENTENCE) < len(ENGLISH_SENTENCE)  # "in characters the Korean sentence is the shorter one"
    assert len(KOREAN_SENTENCE.encode()) > len(ENGLISH_SENTENCE.encode())  # "in bytes it is the longer one"
    assert len(korean.jamo(KOREAN_SENTENCE)) > len(ENGLISH_SENTENCE)  # the figure's jamo bars
    assert len(ko_ids) / len(en_ids) > 3  # "... times as many tokens for the same meaning"
    # "contains only N Hangul syllables (in an article that mentions the Korean name of the abacus)"
    hangul = [c for c in train if korean.is_syllable(c)]
    assert 0 < len(hangul) < 20
    abacus = next(a.text for a in wikipedia_articles("train") if a.title == "Abacus")
    assert Counter(hangul) == Counter(c for c in abacus if korean.is_syllable(c))
    # "... far too few to earn a merge, and 0 tokens of its vocabulary contain a Hangul syllable"
    assert not any(korean.is_syllable(c) for t in bpe.token_strings(range(bpe.vocab_size)) for c in t)
    # "every syllable falls back to its three bytes"
    assert len(ko_ids) == len(KOREAN_SENTENCE.encode())
    assert bpe.decode(ko_ids) == KOREAN_SENTENCE  # "Nothing is lost"


def test_claim_the_toy_korean_bpe():
    toy = BPETokenizer.train(korean.TOY_CORPUS, 256 + TOY_KO_MERGES)
    vocab = toy.token_strings(range(toy.vocab_size))
    # "The first merges rebuild frequent syllables from their three bytes"
    assert any(korean.is_syllable(t) for t in vocab[256:266])
    # "particles such as 은, 에서 and 가 and the ending 한다 become tokens of their own"
    assert {"은", "에서", "가", "한다"} <= set(vocab)
    # "A word that is frequent in this small text, like 단어를, becomes a single token"
    assert " 단어를" in vocab and len(toy.encode(" 단어를")) == 1
    # "rare syllables stay in byte pieces such as \xec\x98"
    pieces = toy.token_strings(toy.encode(KOREAN_SENTENCE))
    assert " \\xec\\x98" in pieces and "한다" in pieces and "은" in pieces


@pytest.mark.slow  # loads Kiwi's model
def test_claim_morphemes():
    analysis = korean.morphemes(KOREAN_SENTENCE)
    # "예측한다 is 예측 + 하 + ㄴ다"; "은 marks the topic, 에 ..., 를 marks the object, 올 is 오 + ㄹ"
    assert analysis == [("LLM", "SL"), ("은", "JX"), ("다음", "NNG"), ("에", "JKB"), ("오", "VV"), ("ㄹ", "ETM"),
                        ("단어", "NNG"), ("를", "JKO"), ("예측", "NNG"), ("하", "XSV"), ("ㄴ다", "EF")]
    assert len(KOREAN_SENTENCE.split()) < len(analysis)
    assert all(tag in korean.TAG_NAMES for _, tag in analysis)
    # the particle table: Kiwi splits every form back into the noun and its particle
    for noun in ["책", "모델", "학교", "단어"]:
        final = korean.has_final_consonant(noun[-1])
        for after_consonant, after_vowel in [("은", "는"), ("이", "가"), ("을", "를")]:
            particle = after_consonant if final else after_vowel
            split = korean.morphemes(noun + particle)
            assert [form for form, _ in split] == [noun, particle]
            assert split[1][1].startswith("J")  # a particle (조사) tag
    # "the noun 학교 appears in N different words" (the first stem, with the most forms)
    forms = korean.word_forms_by_stem(korean.TOY_CORPUS)
    top_stem, top_forms = next(iter(forms.items()))
    assert top_stem == "학교" and len(top_forms) >= 4
    assert {"학교는", "학교가", "학교를", "학교에서"} <= set(top_forms)


@pytest.mark.slow
def test_claim_exercise_predict_lengths(tokenizers):
    bpe = tokenizers[2]
    assert korean.unit_counts("한국어 토큰") == {"characters": 6, "jamo": 14, "bytes": 16}
    assert korean.unit_counts("😀") == {"characters": 1, "jamo": 1, "bytes": 4}
    for s in ["한국어 토큰", "😀"]:  # "one token per byte on both strings"
        assert len(bpe.encode(s)) == len(s.encode())


@pytest.mark.slow
def test_claim_exercise_encoding_replays_the_merges(tokenizers):
    bpe = tokenizers[2]

    def encode_by_merges(text, merges):
        ids = list(text.encode("utf-8"))
        for rank, pair in enumerate(merges):
            ids = merge_pair(ids, pair, 256 + rank)
        return ids

    for word in [" tokenization", " the", " Seoul", " predicting", " 1782"]:
        assert encode_by_merges(word, bpe.merges) == bpe.encode(word)


@pytest.mark.slow  # loads Kiwi's model
def test_claim_exercise_particles():
    assert korean.morphemes("물로")[1] == ("로", "JKB")  # after ㄹ: 로, not 으로
    assert [f for f, _ in korean.morphemes("책으로")] == ["책", "으로"]
