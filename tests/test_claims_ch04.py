"""Chapter 4, "Tokens: turning text into numbers": every number, comparison and qualitative statement
its prose makes about a measured result, asserted on the values the notebook glued when the book was
executed at the ``cpu`` preset (what readers see); the exercise solutions' claims replayed at cpu."""

from __future__ import annotations

import re

import pytest

from llmcourse import korean
from llmcourse.config import preset
from llmcourse.data import wikipedia_articles, wikipedia_text
from llmcourse.tokenizers import BPETokenizer, merge_pair

STEM = "04_tokens"
SENTENCE = "Tokenizers turn text into numbers."  # the notebook's inputs
KOREAN_SENTENCE = "LLM은 다음에 올 단어를 예측한다"
ENGLISH_SENTENCE = "An LLM predicts the next word"
BYTE = re.compile(r"(\\x[0-9a-f]{2})+")  # how token_strings shows bytes that are not a whole character
COMMON_WORDS = {"the", "a", "an", "is", "of", "in", "and", "for", "from", "to"}  # the most frequent English words


@pytest.fixture(scope="module")
def g(executed_book) -> dict:
    return executed_book.glue(STEM)


def word_pieces(tokens: list[str]) -> list[tuple[str, int]]:
    """(word, number of tokens it is spread over) for each run of letters and digits in the text."""
    ends, text = [], ""
    for token in tokens:
        text += token
        ends.append(len(text))
    pieces = []
    for match in re.finditer(r"[A-Za-z0-9]+", text):
        first = next(i for i, end in enumerate(ends) if end > match.start())
        last = next(i for i, end in enumerate(ends) if end >= match.end())
        pieces.append((match.group(), last - first + 1))
    return pieces


# ============================================================================ three tokenizers, one sentence
def test_claim_three_tokenizers_on_one_sentence(g):
    decoded = g["decoded_sentences"]
    assert g["sentence_chars"] == len(SENTENCE)
    # "it spends one token per character: n_char_tokens tokens"
    assert g["n_char_tokens"] == g["sentence_chars"]
    # "The word tokenizer needs only n_word_tokens"; BPE sits in between
    assert g["n_word_tokens"] < g["n_bpe_tokens"] < g["n_char_tokens"]
    # "its vocabulary of word_vocab entries ... has no entry for tokenizers. The word becomes <unk>,
    # and decoding cannot bring it back; capital letters and spacing are gone too"
    assert decoded["word"].split()[0] == "<unk>" and "tokenizers" not in decoded["word"].lower()
    assert decoded["word"] == decoded["word"].lower() and decoded["word"].endswith(" .")
    # "The BPE tokenizer ... decodes to exactly the sentence we gave it" (and so do characters)
    assert decoded["BPE"] == SENTENCE and decoded["character"] == SENTENCE
    # the character vocabulary is tiny next to the word vocabulary; BPE's is the size we chose
    assert g["char_vocab"] < g["bpe_vocab"] < g["word_vocab"]
    assert g["bpe_vocab"] == preset("cpu").tokens.bpe_vocab_size


# ============================================================================ the sweep
def test_claim_the_sweep_sizes_double_from_256_to_the_bpe_vocabulary(g):
    points = g["sweep_points"]
    bpe_sizes = [p[0] for p in points["bpe"]]
    # "For vocabulary sizes from 256 up to bpe_vocab, doubling each time"
    assert bpe_sizes[0] == 256 and bpe_sizes[-1] == g["bpe_vocab"]
    assert all(b == 2 * a for a, b in zip(bpe_sizes, bpe_sizes[1:]))
    assert [p[0] for p in points["word"]][:-1] == bpe_sizes


def test_claim_the_price_in_sequence_length(g):
    word, char, bpe = (g["sweep_points"][k] for k in ("word", "char", "bpe"))
    # "The word line is flat at word_tpc tokens per character"
    assert all(p[1] == pytest.approx(g["word_tpc"]) for p in word)
    # "The BPE line starts at bpe_tpc_bytes with nothing but the 256 bytes (a little over one token per
    # character, because a few characters take several bytes)"
    assert bpe[0][0] == 256 and bpe[0][1] == pytest.approx(g["bpe_tpc_bytes"])
    assert 1 < g["bpe_tpc_bytes"] < 1.05
    # "and falls with every doubling of the vocabulary, to bpe_tpc_full at bpe_vocab tokens"
    tpc = [p[1] for p in bpe]
    assert all(a > b for a, b in zip(tpc, tpc[1:])), tpc
    assert tpc[-1] == pytest.approx(g["bpe_tpc_full"])
    # "char_over_bpe times shorter than the same text as characters" (one token per character)
    assert char[0][1] == 1.0
    assert g["char_over_bpe"] == pytest.approx(char[0][1] / g["bpe_tpc_full"]) and g["char_over_bpe"] > 2


def test_claim_what_the_short_word_sequences_cost(g):
    word, char, bpe = (g["sweep_points"][k] for k in ("word", "char", "bpe"))
    unknown = [p[2] for p in word]
    # "With the 256 most frequent words, word_unk_256 of the validation tokens are unknown; even with
    # all word_full_vocab entries (every word of the training text, the rightmost red point),
    # word_unk_full still are" — falling all the way
    assert word[0][0] == 256 and unknown[0] == pytest.approx(g["word_unk_256"])
    assert all(a > b for a, b in zip(unknown, unknown[1:])), unknown
    assert unknown[-1] == pytest.approx(g["word_unk_full"]) and g["word_unk_full"] > 0
    assert g["word_full_vocab"] == word[-1][0] == g["word_vocab"]
    assert g["word_full_vocab"] == max(p[0] for pts in (word, char, bpe) for p in pts)
    # "BPE's line lies on zero"
    assert all(p[2] == 0 for p in bpe)
    # "Characters come close, with a handful of unknown ones (char_unk_count in the whole validation
    # text, char_unk)"
    assert char[0][2] == pytest.approx(g["char_unk"])
    assert 0 < g["char_unk_count"] < 100 and g["char_unk"] < g["word_unk_full"] / 100
    # "BPE's sequences are bpe_over_word times as long as word sequences"
    assert g["bpe_over_word"] == pytest.approx(g["bpe_tpc_full"] / g["word_tpc"]) and g["bpe_over_word"] > 1


def test_claim_bpe_spells_the_unknown_words_and_keeps_most_words_whole(g):
    pieces = g["missing_word_pieces"]
    assert len(pieces) == 10
    # "Each unknown word is spelled with pieces BPE knows"
    for word, parts in pieces.items():
        assert len(parts) >= 2 and "".join(parts) == " " + word, (word, parts)
    # "most words cost a single token: only bpe_split_share of the words ... are cut into two or more"
    assert 0 < g["bpe_split_share"] < 0.5


# ============================================================================ BPE merges
def test_claim_the_toy_merges(g):
    new = g["toy_new_tokens"]
    assert len(new) == g["toy_merges"]
    # "The first merges join letters that occur together in many words (a + t)"
    assert new[0] == "at"
    # "then those new tokens combine further, with the leading space, into whole words"
    assert " the" in new and " cat" in new
    assert new.index(" cat") > new.index("at") and new.index(" the") > new.index("the")
    # "After toy_merges merges the sentence takes toy_end tokens instead of toy_start"
    assert g["toy_end"] < g["toy_start"]


def test_claim_the_wikipedia_merges(g):
    first, last = g["first_merges"], g["last_merges"]
    assert len(first) == 24 and len(last) == 12 and g["n_merges"] == g["bpe_vocab"] - 256
    # "The first merges pair up common letters (h + e, i + n) and attach letters to the space in front"
    assert "he" in first and "in" in first
    assert any(re.fullmatch(r" [a-z]", t) for t in first)
    # "the, with its space, is already merge number the_rank"
    assert first[g["the_rank"] - 1] == " the" and g["the_rank"] <= 10
    # "The last of the n_merges merges are whole, less common words with their leading space, and years"
    assert sum(bool(re.fullmatch(r" [A-Za-z]{4,}", t)) for t in last) > len(last) // 2, last
    assert any(re.fullmatch(r" \d{4}", t) for t in last), last
    # "a word at the start of a chunk and the same word after a space are different tokens"
    ids = g["the_ids"]
    assert len(ids["the"]) == len(ids[" the"]) == 1 and ids["the"] != ids[" the"]


def test_claim_frequent_words_are_single_tokens_rarer_ones_pieces(g):
    pieces = word_pieces(g["snippet_tokens"])
    common = [(w, n) for w, n in pieces if w.lower() in COMMON_WORDS]
    # "Frequent words are single tokens"
    assert common and all(n == 1 for _, n in common), common
    assert sum(n == 1 for _, n in pieces) > len(pieces) / 2
    # "names and rarer words are split into a few pieces"
    assert any(n >= 2 and w.isupper() for w, n in pieces), pieces
    assert any(n >= 2 and w.islower() for w, n in pieces), pieces


# ============================================================================ Korean
def test_claim_korean_in_an_english_bpe(g):
    assert g["ko_chars"] == len(KOREAN_SENTENCE) and g["en_chars"] == len(ENGLISH_SENTENCE)
    # "In characters the Korean sentence is the shorter one ... In bytes it is the longer one"
    assert g["ko_chars"] < g["en_chars"] and g["ko_bytes"] > g["en_bytes"]
    # "our BPE turns it into ko_bpe tokens against en_bpe for English: ko_over_en times as many"
    assert g["ko_bpe"] > g["en_bpe"] and g["ko_over_en"] == pytest.approx(g["ko_bpe"] / g["en_bpe"])
    assert g["ko_over_en"] > 1
    # "hangul_tokens tokens of its vocabulary contain a Hangul syllable" — none: "far too few to earn a merge"
    assert g["hangul_tokens"] == 0
    # "So every syllable falls back to its three bytes, and the printed tokens such as \xec are not even
    # characters" — "about three tokens per syllable"
    tokens = g["ko_tokens"]
    assert len(tokens) == g["ko_bpe"]
    n_syllables = sum(korean.is_syllable(c) for c in KOREAN_SENTENCE)
    byte_tokens = [t for t in tokens if BYTE.fullmatch(t)]
    assert "\\xec" in tokens and len(byte_tokens) == 3 * n_syllables, tokens
    # ("Nothing is lost, since decoding restores the sentence exactly": the notebook asserts it in the
    # cell that glues ko_tokens, so the glue exists only if it held)


def test_claim_the_few_hangul_syllables_come_from_the_abacus_article(g):
    # "The training text contains only hangul_in_train Hangul syllables (in an article that mentions
    # the Korean name of the abacus)"
    train = wikipedia_text("train", max_chars=preset("cpu").tokens.train_chars)
    abacus = next(a.text for a in wikipedia_articles("train") if a.title == "Abacus")
    assert abacus in train
    assert 0 < g["hangul_in_train"] == sum(korean.is_syllable(c) for c in abacus)


def test_claim_the_toy_korean_bpe(g):
    first = g["toy_ko_first_merges"]
    splits = list(g["toy_ko_splits"].values())
    sentence = g["toy_ko_splits"][KOREAN_SENTENCE]
    # "The first merges rebuild frequent syllables from their three bytes"
    assert any(BYTE.fullmatch(t) for t in first[:3]) and any(korean.is_syllable(t) for t in first), first
    # "particles such as 은, 에서 and 가 and the ending 한다 become tokens of their own"
    tokens = {t for split in splits for t in split}
    assert {"은", "에서", "가", "한다"} <= tokens, splits
    # "A word that is frequent in this small text, like 단어를, becomes a single token"
    assert " 단어를" in sentence
    # "rare syllables stay in byte pieces such as \xec\x98"
    assert any(t.strip() == "\\xec\\x98" for t in sentence), sentence


def test_claim_the_morphemes_of_the_sentence(g):
    analysis = [tuple(pair) for pair in g["morpheme_analysis"]]
    forms = [form for form, _ in analysis]
    tags = dict(analysis)
    # "예측한다 is 예측 (a noun) + 하 (the suffix that makes a verb of it) + ㄴ다 (the sentence ending)"
    assert forms[-3:] == ["예측", "하", "ㄴ다"] and tags["예측"].startswith("NN")
    # "은 marks the topic, 에 is at/to, 를 marks the object, and 올 is the verb 오 with the ending ㄹ"
    assert {"은", "에", "를"} <= set(forms) and all(tags[p].startswith("J") for p in ("은", "에", "를"))
    assert forms[forms.index("오") + 1] == "ㄹ" and tags["오"] == "VV"
    # "The n_eojeol words between spaces hold n_morphemes morphemes"
    assert g["n_morphemes"] == len(analysis) and g["n_eojeol"] == len(KOREAN_SENTENCE.split())
    assert g["n_eojeol"] < g["n_morphemes"]


def test_claim_every_form_is_the_noun_and_its_particle(g):
    splits = g["particle_splits"]
    assert len(splits) == 12
    # the particle's shape is chosen by whether the noun ends in a final consonant, and Kiwi splits
    # every form back into the noun and the particle: "a morpheme vocabulary needs the noun once, plus
    # each particle once, and can spell every form from them"
    for word, split in splits.items():
        (noun, noun_tag), (particle, particle_tag) = split
        assert noun + particle == word and noun_tag.startswith("NN") and particle_tag.startswith("J")
        final = korean.has_final_consonant(noun[-1])
        assert particle in (("은", "이", "을") if final else ("는", "가", "를")), (word, split)
    # "Even in the toy text, the noun top_stem appears in top_stem_forms different words"
    words = g["top_stem_words"]
    assert g["top_stem_forms"] == len(set(words)) > 1
    assert all(w.startswith(g["top_stem"]) and w != g["top_stem"] for w in words), words


# ============================================================================ exercise solutions (replayed at cpu)
@pytest.fixture(scope="module")
def bpe(g):
    cfg = preset("cpu")
    tok = BPETokenizer.train(wikipedia_text("train", max_chars=cfg.tokens.train_chars), cfg.tokens.bpe_vocab_size)
    assert tok.vocab_size == g["bpe_vocab"] and tok.token_strings(range(256, 280)) == g["first_merges"]
    return tok


def test_claim_exercise_predict_lengths(bpe):
    # "한국어 토큰 ... 6 characters ... 14 ... 16. The emoji is 1 character, which NFD leaves alone (1),
    # and 4 bytes"
    assert korean.unit_counts("한국어 토큰") == {"characters": 6, "jamo": 14, "bytes": 16}
    assert korean.unit_counts("😀") == {"characters": 1, "jamo": 1, "bytes": 4}
    # "The English-trained BPE ... spends one token per byte on both strings"
    for s in ["한국어 토큰", "😀"]:
        assert len(bpe.encode(s)) == len(s.encode("utf-8"))


def test_claim_exercise_encoding_replays_the_merges(bpe):
    def encode_by_merges(text, merges):  # the solution
        ids = list(text.encode("utf-8"))
        for rank, pair in enumerate(merges):
            ids = merge_pair(ids, pair, 256 + rank)
        return ids

    for word in [" tokenization", " the", " Seoul", " predicting", " 1782"]:
        assert encode_by_merges(word, bpe.merges) == bpe.encode(word), word


@pytest.mark.slow  # loads Kiwi's model
def test_claim_exercise_particles():
    shapes = {"topic": ("은", "는"), "subject": ("이", "가"), "object": ("을", "를")}

    def attach(noun, kind):  # the solution
        after_consonant, after_vowel = shapes[kind]
        return noun + (after_consonant if len(korean.decompose(noun[-1])) == 3 else after_vowel)

    # "check with korean.morphemes that Kiwi splits each result back into the noun and a particle"
    for noun in ["사과", "책", "컴퓨터", "한국어", "물"]:
        for kind in shapes:
            split = korean.morphemes(attach(noun, kind))
            assert [f for f, _ in split][0] == noun and len(split) == 2 and split[1][1].startswith("J"), split
    # "after a noun ending in ㄹ, the instrumental particle is 로 rather than 으로 (물로)"
    assert korean.morphemes("물로")[1] == ("로", "JKB")
    assert [f for f, _ in korean.morphemes("책으로")] == ["책", "으로"]
