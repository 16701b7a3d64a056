"""Tokenizers: round trips (property tests), BPE training, saving, and bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.tokenizers import (
    BPETokenizer, CharTokenizer, TokenizerError, WordTokenizer, chunks, load_tokenizer,
    train_bpe_merges, train_bpe_merges_naive, words,
)

TRAIN = ("The cat sat on the mat. The dog sat on the log! 고양이가 매트 위에 앉았다. "
         "LLM은 다음에 올 단어를 예측한다 🤖🤖 1234 1999 well-known it's") * 3


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(TRAIN, vocab_size=300)


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_bpe_round_trip_any_unicode(text, bpe):
    ids = bpe.encode(text)
    assert all(0 <= i < bpe.vocab_size for i in ids)
    assert bpe.decode(ids) == text


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3) | st.sampled_from(" .🤖😀👍🏽")))
def test_bpe_round_trip_hangul_and_emoji(text, bpe):
    assert bpe.decode(bpe.encode(text)) == text


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_chunks_cover_the_text(text):
    assert "".join(chunks(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=sorted(set(TRAIN))))
def test_char_round_trip_over_its_alphabet(text):
    tok = CharTokenizer.train(TRAIN)
    assert tok.decode(tok.encode(text)) == text


def test_char_unknown_becomes_unk():
    tok = CharTokenizer.train("abc")
    assert tok.encode("abz") == [tok.index["a"], tok.index["b"], 0]
    assert not tok.round_trip and BPETokenizer.round_trip


def test_word_tokenizer_rule_and_unknowns():
    tok = WordTokenizer.train(TRAIN, max_size=10)
    assert tok.vocab_size == 10
    assert tok.tokens("It's well-known, isn't it?") == ["it's", "well-known", ",", "isn't", "it", "?"]
    assert tok.decode(tok.encode("the cat")).split()[0] == "the"
    assert 0 in tok.encode("zebra")


def test_bpe_merges_shrink_the_sequence(bpe):
    text = "The cat sat on the mat."
    assert len(bpe.encode(text)) < len(text.encode("utf-8"))
    assert bpe.vocab_size == 300


def test_incremental_and_naive_trainers_agree():
    text = TRAIN + " the theme of these theses thereafter"
    assert train_bpe_merges(text, 330) == train_bpe_merges_naive(text, 330)


def test_merges_stop_when_nothing_is_left_to_merge():
    assert len(train_bpe_merges("ab", 1000)) == 1


@pytest.mark.parametrize("cls, kwargs", [(BPETokenizer, {"vocab_size": 300}), (CharTokenizer, {}), (WordTokenizer, {})])
def test_empty_training_text_is_refused(cls, kwargs):
    with pytest.raises(TokenizerError, match="empty text"):
        cls.train("", **kwargs)


def test_vocab_smaller_than_bytes_is_refused():
    with pytest.raises(TokenizerError, match=r"vocab_size must be >= 256 \(the byte alphabet\), got 100"):
        BPETokenizer.train("hello", vocab_size=100)


def test_out_of_range_ids_are_refused(bpe):
    with pytest.raises(TokenizerError, match=r"out of range.*0\.\.299"):
        bpe.decode([1, 300])
    with pytest.raises(TokenizerError, match="out of range"):
        CharTokenizer.train("abc").decode([-1])


@pytest.mark.parametrize("tok", [BPETokenizer.train(TRAIN, 300), CharTokenizer.train(TRAIN), WordTokenizer.train(TRAIN)])
def test_save_and_load(tmp_path, tok):
    path = tok.save(tmp_path / "tok.json")
    again = load_tokenizer(path)
    assert type(again) is type(tok) and again.vocab_size == tok.vocab_size
    assert again.encode(TRAIN) == tok.encode(TRAIN)


def test_corrupted_tokenizer_is_refused(tmp_path, bpe):
    path = bpe.save(tmp_path / "tok.json")
    content = json.loads(path.read_text())
    assert content["kind"] == "llmcourse tokenizer" and content["payload"]["tokenizer"] == "bpe"
    content["payload"]["merges"][0] = [1, 2]
    path.write_text(json.dumps(content))
    with pytest.raises(TokenizerError, match=r"corrupt saved tokenizer \(it has been altered or truncated"):
        load_tokenizer(path)
    path.write_text(path.read_text()[:50])
    with pytest.raises(TokenizerError, match=r"corrupt saved tokenizer \(it is not valid JSON"):
        load_tokenizer(path)
    for text, problem in [("null", "holds null"), ("[1, 2]", "holds an array"), ("[" * 100_000 + "]" * 100_000,
                                                                                  "nested too deeply")]:
        path.write_text(text)
        with pytest.raises(TokenizerError, match=problem):
            load_tokenizer(path)
    with pytest.raises(TokenizerError, match="does not exist"):
        load_tokenizer(tmp_path / "missing.json")


@pytest.mark.parametrize("payload, problem", [
    ({"tokenizer": "sentencepiece", "pieces": []}, "names no known tokenizer"),
    ([1, 2], "names no known tokenizer"),
    ({"tokenizer": "bpe", "merges": [[1, 2]], "extra": 1}, "has the fields"),
    ({"tokenizer": "bpe", "merges": "ab"}, "its merges is not a list"),
    ({"tokenizer": "bpe", "merges": [[1, 2, 3]]}, "not all pairs of token ids"),
    ({"tokenizer": "bpe", "merges": [[1, 999]]}, "does not build a tokenizer: merge"),
    ({"tokenizer": "char", "chars": ["a", "bc"]}, "not all single characters"),
    ({"tokenizer": "word", "vocabulary": ["a", "a"]}, "not distinct non-empty strings"),
])
def test_sealed_but_malformed_tokenizer_is_refused(tmp_path, payload, problem):
    from llmcourse.sealed import write_sealed

    path = write_sealed(tmp_path / "tok.json", "llmcourse tokenizer", payload, 2)
    with pytest.raises(TokenizerError, match=problem):
        load_tokenizer(path)


def test_tokenizer_of_a_newer_llmcourse_asks_to_upgrade(tmp_path, bpe):
    from llmcourse.sealed import read_sealed, write_sealed

    path = bpe.save(tmp_path / "tok.json")
    write_sealed(path, "llmcourse tokenizer", read_sealed(path, "llmcourse tokenizer", 2), 3)
    with pytest.raises(TokenizerError, match="written by a newer llmcourse.*upgrade llmcourse") as info:
        load_tokenizer(path)
    assert "corrupt" not in str(info.value)


def test_words_rejects_non_strings():
    with pytest.raises(TypeError, match="expects a str"):
        words(None)
