"""Korean text as tokens: syllable blocks, jamo, UTF-8 bytes and morphemes.

A Hangul syllable block (음절) such as 한 is one Unicode character built from two or three letters
(자모, jamo): an initial consonant, a vowel and an optional final consonant. Unicode numbers the
11,172 blocks so that the letters can be computed back from the code point:

    code point = 0xAC00 + (initial × 21 + vowel) × 28 + final      (final = 0: no final consonant)

``unicodedata.normalize("NFD", ...)`` performs the same decomposition; ``decompose`` spells it out.
Every block is 3 bytes in UTF-8.

Korean words (어절, the pieces between spaces) glue a stem to particles and endings: 단어를 =
단어 (word) + 를 (object particle). ``morphemes`` splits text into morphemes with the Kiwi
morphological analyser (kiwipiepy, whose model ships inside the installed package: no download).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

FIRST_SYLLABLE, LAST_SYLLABLE = 0xAC00, 0xD7A3
N_INITIALS, N_VOWELS, N_FINALS = 19, 21, 28  # 19 × 21 × 28 = 11,172 syllable blocks

# A small Korean text written for this course, to train a toy BPE on. It is far too small for a
# real tokenizer; it only shows what merges BPE finds in Korean when it sees some.
TOY_CORPUS = """\
언어 모델은 다음에 올 단어를 예측한다.
모델은 많은 문장을 읽고 단어의 순서를 배운다.
토크나이저는 문장을 토큰으로 나눈다.
토큰은 단어일 수도 있고 단어의 일부일 수도 있다.
모델이 단어를 틀리게 예측하면 손실이 커진다.
손실이 작아지도록 모델의 매개변수를 조금씩 바꾼다.
고양이가 매트 위에 앉았다.
고양이는 생선을 좋아한다.
강아지가 공원에서 공을 쫓았다.
강아지는 고양이를 좋아하지 않는다.
학생은 도서관에서 책을 읽는다.
학생들은 매일 아침 학교에 간다.
선생님이 학생에게 질문을 한다.
학생이 선생님에게 대답을 한다.
우리는 서울에서 부산까지 기차를 탔다.
서울은 한국의 수도이다.
부산은 바다가 아름다운 도시이다.
나는 아침마다 커피를 마신다.
친구가 나에게 편지를 보냈다.
나는 친구에게 답장을 보냈다.
비가 오면 우리는 집에서 영화를 본다.
한국어는 조사와 어미가 단어에 붙는 언어이다.
그래서 같은 명사도 문장마다 모양이 달라진다.
학교는 크다. 학교가 멀다. 학교를 좋아한다. 학교에서 공부한다.
모델은 문장을 읽고 다음 단어를 예측한다.
형태소 분석기는 단어를 형태소로 나눈다.
"""

# Kiwi's part-of-speech tags (the Sejong tag set) that the book's examples meet, in plain English.
TAG_NAMES = {
    "NNG": "noun", "NNP": "proper noun", "NNB": "bound noun", "NP": "pronoun", "NR": "numeral",
    "VV": "verb stem", "VA": "adjective stem", "VX": "auxiliary verb", "VCP": "copula 이다",
    "XSV": "verb-making suffix", "XSA": "adjective-making suffix", "XSN": "noun suffix",
    "JKS": "subject particle", "JKO": "object particle", "JKB": "adverbial particle",
    "JKG": "possessive particle", "JX": "topic/auxiliary particle", "JC": "conjunctive particle",
    "EP": "tense ending", "EF": "sentence ending", "EC": "connective ending", "ETM": "adnominal ending",
    "ETN": "nominal ending", "MAG": "adverb", "MM": "determiner", "SL": "Latin letters",
    "SF": "full stop", "SN": "number",
}


def is_syllable(char: str) -> bool:
    """True for one precomposed Hangul syllable block (가 … 힣)."""
    return isinstance(char, str) and len(char) == 1 and FIRST_SYLLABLE <= ord(char) <= LAST_SYLLABLE


def decompose(syllable: str) -> tuple[str, ...]:
    """The jamo of one syllable block, by the code-point arithmetic of the module docstring.

    Returns (initial, vowel) or (initial, vowel, final) as conjoining jamo (U+1100…U+11FF), the
    same characters ``unicodedata.normalize("NFD", syllable)`` gives.
    """
    if not is_syllable(syllable):
        raise ValueError(f"{syllable!r} is not a single Hangul syllable block (U+AC00..U+D7A3)")
    index = ord(syllable) - FIRST_SYLLABLE
    initial, rest = divmod(index, N_VOWELS * N_FINALS)
    vowel, final = divmod(rest, N_FINALS)
    letters = (chr(0x1100 + initial), chr(0x1161 + vowel))
    return letters + ((chr(0x11A7 + final),) if final else ())


def jamo(text: str) -> str:
    """``text`` with every syllable block decomposed into its jamo (Unicode NFD)."""
    if not isinstance(text, str):
        raise TypeError(f"jamo() expects a str, got {type(text).__name__}")
    return unicodedata.normalize("NFD", text)


def readable_jamo(text: str) -> str:
    """``text`` with conjoining jamo (the NFD letters, which fonts draw only inside a block) replaced
    by the stand-alone letters of the Hangul Compatibility Jamo block: ᄒ/ᆫ → ㅎ/ㄴ."""
    out = []
    for char in jamo(text):
        name = unicodedata.name(char, "")
        if name.startswith(("HANGUL CHOSEONG ", "HANGUL JUNGSEONG ", "HANGUL JONGSEONG ")):
            try:
                char = unicodedata.lookup("HANGUL LETTER " + name.split(" ", 2)[2])
            except KeyError:
                pass  # an archaic letter without a stand-alone form: keep it
        out.append(char)
    return "".join(out)


def has_final_consonant(syllable: str) -> bool:
    """Whether a syllable block ends in a consonant (받침), which picks 은/이/을 over 는/가/를."""
    return len(decompose(syllable)) == 3


def unit_counts(text: str) -> dict[str, int]:
    """How long ``text`` is in characters, in jamo-level characters and in UTF-8 bytes (spaces included)."""
    if not isinstance(text, str):
        raise TypeError(f"unit_counts() expects a str, got {type(text).__name__}")
    return {"characters": len(text), "jamo": len(jamo(text)), "bytes": len(text.encode("utf-8"))}


@lru_cache(maxsize=1)
def _kiwi():
    try:
        from kiwipiepy import Kiwi
    except ImportError as err:  # pragma: no cover - kiwipiepy is a dependency of the package
        raise ImportError("morphemes() needs kiwipiepy: pip install kiwipiepy") from err
    return Kiwi()


def morphemes(text: str) -> list[tuple[str, str]]:
    """Split Korean text into (morpheme, tag) pairs with Kiwi; endings in compatibility jamo (ㄴ다, not ᆫ다)."""
    if not isinstance(text, str):
        raise TypeError(f"morphemes() expects a str, got {type(text).__name__}")
    if not text.strip():
        return []
    return [(t.form, t.tag) for t in _kiwi().tokenize(text, compatible_jamo=True)]


NOUN_TAGS = ("NNG", "NNP", "NP")


def word_forms_by_stem(text: str) -> dict[str, list[str]]:
    """For each noun (or pronoun) stem in ``text``, the different words (어절, between spaces) it
    appears in, e.g. ``{"학교": ["학교가", "학교는", "학교를", "학교에서", ...]}``. Punctuation at
    the end of a word is dropped first; stems are found with ``morphemes``."""
    forms: dict[str, set[str]] = {}
    for word in text.split():
        word = word.strip(".,!?\"'()")
        if not word:
            continue
        analysis = morphemes(word)
        if analysis and analysis[0][1] in NOUN_TAGS:
            forms.setdefault(analysis[0][0], set()).add(word)
    return {stem: sorted(words) for stem, words in sorted(forms.items(), key=lambda kv: (-len(kv[1]), kv[0]))}
