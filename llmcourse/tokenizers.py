"""Turning text into tokens.

``words`` is the book's one rule for splitting English text into words, used from chapter 1 on:

* text is lower-cased;
* a word is a run of letters or digits, and may contain inner apostrophes or hyphens
  (``it's``, ``well-known``);
* every other visible character (``.``, ``,``, ``"``, ``(``, ...) is a token of its own;
* white space only separates tokens and is dropped.
"""

from __future__ import annotations

import re

_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*|[^\w\s]|_", re.UNICODE)


def words(text: str) -> list[str]:
    """Split ``text`` into lower-case word and punctuation tokens (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"words() expects a str, got {type(text).__name__}")
    return _WORD_RE.findall(text.lower())


# =========================================================================== tokenizers
# Three ways to turn text into integer ids, all with the same interface:
#   tok.encode(text) -> list[int];  tok.decode(ids) -> str;  tok.vocab_size;  tok.save(path)
#   load_tokenizer(path) -> the saved tokenizer, refused if the file was altered.

import heapq  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

from llmcourse.sealed import SealedError, SealedFormatError, read_sealed, write_sealed  # noqa: E402

_SEALED_KIND = "llmcourse tokenizer"
_FORMAT = 2  # 1: {"sha256", "tokenizer"} of its own; 2: a sealed file (llmcourse.sealed)


class TokenizerError(ValueError):
    """Bad input to a tokenizer: empty training text, an impossible vocabulary size, unknown ids,
    or a saved tokenizer that is corrupt."""


class Tokenizer:
    """Common interface. ``round_trip`` says whether ``decode(encode(s)) == s`` for every string."""

    kind = "base"
    round_trip = False

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids) -> str:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def _check_ids(self, ids) -> list[int]:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise TokenizerError(
                f"token id(s) {bad[:5]} out of range: this {self.kind} tokenizer has ids 0..{self.vocab_size - 1}"
            )
        return ids

    # -- saving: a sealed JSON file (SHA-256 of its payload), so corruption is detected on load
    def _payload(self) -> dict:
        raise NotImplementedError

    def save(self, path) -> Path:
        """Write the tokenizer to ``path``, atomically, as a sealed JSON file (``llmcourse.sealed``,
        kind ``"llmcourse tokenizer"``) whose payload is ``{"tokenizer": "char" | "word" | "bpe",
        ...}`` plus the alphabet, vocabulary or merges; ``load_tokenizer`` reads it back."""
        return write_sealed(path, _SEALED_KIND, {"tokenizer": self.kind, **self._payload()}, _FORMAT)


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a str of training text, got {type(text).__name__}")
    if not text:
        raise TokenizerError("cannot train a tokenizer on empty text")
    return text


class CharTokenizer(Tokenizer):
    """One token per Unicode character (code point) seen in the training text.

    Characters never seen in training map to the ``<unk>`` token (id 0), so the round trip holds
    only for text written in the training alphabet (``round_trip`` is False).
    """

    kind = "char"
    UNK = "<unk>"

    def __init__(self, chars: list[str]):
        self.chars = [self.UNK] + [c for c in chars if c != self.UNK]
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def train(cls, text: str) -> "CharTokenizer":
        return cls(sorted(set(_check_text(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, 0) for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in self._check_ids(ids))

    def _payload(self):
        return {"chars": self.chars[1:]}


class WordTokenizer(Tokenizer):
    """Whole words by the book's ``words`` rule (lower-cased; punctuation separate; spaces dropped).

    The vocabulary is the ``max_size`` most frequent words of the training text (ties broken
    alphabetically); every other word becomes ``<unk>`` (id 0). Decoding joins tokens with single
    spaces, so case and spacing are lost: no round trip.
    """

    kind = "word"
    UNK = "<unk>"

    def __init__(self, vocabulary: list[str]):
        self.vocabulary = [self.UNK] + [w for w in vocabulary if w != self.UNK]
        self.index = {w: i for i, w in enumerate(self.vocabulary)}

    @classmethod
    def train(cls, text: str, max_size: int | None = None, min_count: int = 1) -> "WordTokenizer":
        counts = Counter(words(_check_text(text)))
        if max_size is not None and max_size < 2:
            raise TokenizerError(f"max_size must be >= 2 (room for <unk> and one word), got {max_size}")
        if min_count < 1:
            raise TokenizerError(f"min_count must be >= 1, got {min_count}")
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if not ranked:
            raise TokenizerError(f"no word occurs at least min_count={min_count} times")
        return cls(ranked if max_size is None else ranked[: max_size - 1])

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def tokens(self, text: str) -> list[str]:
        return words(text)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(w, 0) for w in words(text)]

    def decode(self, ids) -> str:
        return " ".join(self.vocabulary[i] for i in self._check_ids(ids))

    def _payload(self):
        return {"vocabulary": self.vocabulary[1:]}


# --------------------------------------------------------------------------- byte-level BPE
# Text is first cut into chunks (a word with its leading space, a run of digits, punctuation,
# white space) so merges never cross a word boundary; each chunk is UTF-8 bytes, and merges
# join the most frequent adjacent pair of tokens into a new token.
_CHUNK_RE = re.compile(r" ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+|_+", re.UNICODE)


def chunks(text: str) -> list[str]:
    """Pre-tokenisation for BPE: the pieces merges stay inside. ``"".join(chunks(t)) == t``."""
    return _CHUNK_RE.findall(text)


def count_pairs(ids) -> Counter:
    """How often each pair of neighbouring ids occurs: ``count[(a, b)]`` = number of positions ``i``
    with ``ids[i] == a`` and ``ids[i + 1] == b``. Overlaps count: ``[7, 7, 7]`` holds ``(7, 7)`` twice."""
    return Counter(zip(ids, ids[1:]))


def most_frequent_pair(counts) -> tuple[int, int]:
    """The pair with the highest count; ties go to the smallest pair, so training is deterministic."""
    if not counts:
        raise TokenizerError("no pairs to choose from: every sequence is a single token")
    return max(counts.items(), key=lambda kv: (kv[1], (-kv[0][0], -kv[0][1])))[0]


def merge_pair(ids, pair: tuple[int, int], new_id: int) -> list[int]:
    """One BPE merge: replace every occurrence of ``pair`` in ``ids`` by ``new_id``.

    Reads left to right and never reuses a token, so an overlapping run merges from the left:
    merging (7, 7) in ``[7, 7, 7]`` gives ``[new_id, 7]``.
    """
    a, b = pair
    out, i, n = [], 0, len(ids)
    while i < n:
        if ids[i] == a and i + 1 < n and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_bpe_merges(text: str, vocab_size: int) -> list[tuple[int, int]]:
    """Learn ``vocab_size - 256`` merges, updating pair counts incrementally after each merge.

    Each distinct chunk is stored once with its frequency. After merging pair (a, b), only the
    chunks that contain (a, b) are re-counted, and only their pairs' totals change; a max-heap
    with lazy deletion finds the next most frequent pair. Ties go to the smallest pair (by ids),
    the same rule as ``train_bpe_merges_naive``.
    """
    _check_text(text)
    if vocab_size < 256:
        raise TokenizerError(f"vocab_size must be >= 256 (the byte alphabet), got {vocab_size}")
    chunk_counts = Counter(chunks(text))
    word_list = [list(c.encode("utf-8")) for c in chunk_counts]
    freqs = list(chunk_counts.values())
    pair_counts: defaultdict = defaultdict(int)
    where: defaultdict = defaultdict(set)  # pair -> indices of the words that contain it
    for wi, word in enumerate(word_list):
        f = freqs[wi]
        for pair in zip(word, word[1:]):
            pair_counts[pair] += f
            where[pair].add(wi)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < vocab_size - 256 and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg:
            continue  # stale heap entry: this pair's count changed since it was pushed
        new_id = 256 + len(merges)
        merges.append(pair)
        touched = set()
        for wi in where.pop(pair):
            old = word_list[wi]
            new = merge_pair(old, pair, new_id)
            f = freqs[wi]
            old_pairs, new_pairs = count_pairs(old), count_pairs(new)
            for p, n in old_pairs.items():
                delta = new_pairs.get(p, 0) - n
                if delta:
                    pair_counts[p] += delta * f
                    touched.add(p)
                if p not in new_pairs and p != pair:
                    where[p].discard(wi)
            for p, n in new_pairs.items():
                if p not in old_pairs:
                    pair_counts[p] += n * f
                    where[p].add(wi)
                    touched.add(p)
            word_list[wi] = new
        pair_counts.pop(pair, None)
        for p in touched:
            c = pair_counts.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                pair_counts.pop(p, None)
    return merges


def train_bpe_merges_naive(text: str, vocab_size: int) -> list[tuple[int, int]]:
    """The textbook loop: count every pair, merge the most frequent one, repeat, recounting all
    pairs after each merge. The reference for ``train_bpe_merges``: same merges, much slower."""
    _check_text(text)
    if vocab_size < 256:
        raise TokenizerError(f"vocab_size must be >= 256 (the byte alphabet), got {vocab_size}")
    chunk_counts = Counter(chunks(text))  # each distinct chunk once, with how often it occurs
    sequences = [list(c.encode("utf-8")) for c in chunk_counts]
    freqs = list(chunk_counts.values())
    merges = []
    while len(merges) < vocab_size - 256:
        counts: Counter = Counter()
        for ids, f in zip(sequences, freqs):  # a chunk that occurs f times holds its pairs f times
            for pair in zip(ids, ids[1:]):
                counts[pair] += f
        if not counts:
            break  # every chunk is a single token: nothing left to merge
        pair = most_frequent_pair(counts)
        new_id = 256 + len(merges)
        merges.append(pair)
        sequences = [merge_pair(ids, pair, new_id) for ids in sequences]
    return merges


class BPETokenizer(Tokenizer):
    """Byte-level byte-pair encoding (Sennrich et al., 2016; bytes as the base alphabet as in GPT-2).

    The 256 byte values are the first 256 tokens, so any Unicode text — Korean, emoji — encodes
    without an unknown token and decodes back exactly (``round_trip`` is True). Each learned merge
    (a, b) → new id adds one token.
    """

    kind = "bpe"
    round_trip = True

    def __init__(self, merges: list[tuple[int, int]]):
        self.merges = [tuple(int(x) for x in m) for m in merges]
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self.token_bytes = [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            if not (0 <= a < len(self.token_bytes) and 0 <= b < len(self.token_bytes)):
                raise TokenizerError(f"merge ({a}, {b}) refers to a token that does not exist yet")
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "BPETokenizer":
        return cls(train_bpe_merges(text, vocab_size))

    @property
    def vocab_size(self) -> int:
        return len(self.token_bytes)

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = list(chunk.encode("utf-8"))
        while len(ids) > 1:
            ranked = [(self.ranks.get(p, None), i) for i, p in enumerate(zip(ids, ids[1:]))]
            ranked = [(r, i) for r, i in ranked if r is not None]
            if not ranked:
                break
            rank = min(ranked)[0]
            ids = merge_pair(ids, self.merges[rank], 256 + rank)
        return ids

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode() expects a str, got {type(text).__name__}")
        out = []
        for chunk in chunks(text):
            ids = self._cache.get(chunk)
            if ids is None:
                ids = self._encode_chunk(chunk)
                if len(self._cache) < 200_000:
                    self._cache[chunk] = ids
            out.extend(ids)
        return out

    def decode(self, ids) -> str:
        # arbitrary id sequences can cut a character's bytes apart: shown as U+FFFD, never dropped
        return b"".join(self.token_bytes[i] for i in self._check_ids(ids)).decode("utf-8", errors="replace")

    def token_strings(self, ids) -> list[str]:
        """Each token's bytes shown as text (partial UTF-8 sequences as ``\\x..`` escapes)."""
        return [self.token_bytes[i].decode("utf-8", errors="backslashreplace") for i in self._check_ids(ids)]

    def _payload(self):
        return {"merges": [list(m) for m in self.merges]}


_KINDS = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}


_FIELDS = {"char": "chars", "word": "vocabulary", "bpe": "merges"}


def _payload_problem(payload) -> str | None:
    """What is wrong with a sealed tokenizer payload (a bug, or a file made by hand), or None."""
    if not isinstance(payload, dict) or payload.get("tokenizer") not in _KINDS:
        found = payload.get("tokenizer") if isinstance(payload, dict) else type(payload).__name__
        return f"names no known tokenizer ({found!r}; known: {', '.join(_KINDS)})"
    field = _FIELDS[payload["tokenizer"]]
    if sorted(payload) != sorted(["tokenizer", field]):
        return f"has the fields {sorted(payload)}, expected {['tokenizer', field]}"
    items = payload[field]
    if not isinstance(items, list):
        return f"its {field} is not a list"
    if field == "merges":
        if not all(isinstance(m, list) and len(m) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                               for x in m) for m in items):
            return "its merges are not all pairs of token ids"
    elif not all(isinstance(x, str) and x for x in items) or len(set(items)) != len(items):
        return f"its {field} are not distinct non-empty strings"
    elif field == "chars" and any(len(x) != 1 for x in items):
        return "its chars are not all single characters"
    return None


def load_tokenizer(path) -> Tokenizer:
    """Load a tokenizer saved with ``save``; a file that was altered, truncated or is not a saved
    tokenizer is refused (``TokenizerError``), as is one saved by a newer llmcourse (upgrade)."""
    try:
        payload = read_sealed(path, _SEALED_KIND, _FORMAT)
    except SealedFormatError as err:
        raise TokenizerError(str(err)) from None
    except SealedError as err:
        raise TokenizerError(f"{err.path}: corrupt saved tokenizer (it {err.problem}); refusing to load it, "
                             "save the tokenizer again") from None
    problem = _payload_problem(payload)
    if problem is None:
        try:
            return _KINDS[payload["tokenizer"]](payload[_FIELDS[payload["tokenizer"]]])
        except TokenizerError as err:  # e.g. a merge of tokens that do not exist
            problem = f"does not build a tokenizer: {err}"
    raise TokenizerError(f"{path}: corrupt saved tokenizer (it {problem}); refusing to load it, save the "
                         "tokenizer again")
