"""Corpora and datasets that ship inside installed packages — nothing is downloaded.

* ``wikipedia_articles()`` — the English Wikipedia sample in gensim's test data, turned into clean
  article text with gensim's own wiki tools (``extract_pages`` + ``filter_wiki``), ≈3 MB.
* ``lee_corpus()`` — the Lee news corpus (background + test documents).
* ``polarity_sentences()`` — Pang & Lee movie-review sentences labelled positive/negative.
* ``wordsim353()``, ``simlex999()``, ``analogy_questions_path()`` — word-similarity sets.
* ``digits()`` — scikit-learn's bundled 8×8 handwritten digits.

Splits are by document and deterministic (``split_documents``). Processed text is cached on disk,
keyed by a hash of its source file and the processing settings; a missing or corrupt cache entry
is rebuilt, never used.
"""

from __future__ import annotations

import bz2
import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmcourse.sealed import SealedError, SealedFormatError, digest, read_sealed, write_sealed

CACHE_ENV_VAR = "LLMCOURSE_CACHE"
_CACHE_KIND = "llmcourse cache entry"
_CACHE_FORMAT = 2  # 1: the entry's own {"key", "sha256", "payload"}; 2: a sealed file

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
DEFAULT_SPLIT_SEED = 1234  # fixed forever: the scoreboard's validation split depends on it


class DataError(ValueError):
    """Bad input to a data function: an unknown split, an empty corpus, invalid fractions, ..."""


# --------------------------------------------------------------------------- package data paths
def gensim_data_path(filename: str) -> Path:
    """Path of a file in gensim's bundled test data (raises if gensim does not ship it)."""
    from gensim.test.utils import datapath

    path = Path(datapath(filename))
    if not path.is_file():
        raise FileNotFoundError(
            f"{filename!r} is not in gensim's bundled test data at {path.parent}; "
            "reinstall gensim (pip install --force-reinstall gensim)"
        )
    return path


# --------------------------------------------------------------------------- cache
def cache_dir(*parts: str) -> Path:
    """Where processed data (and the model store, and the scoreboard) is cached: ``$LLMCOURSE_CACHE``
    or ``~/.cache/llmcourse``, or a folder ``parts`` inside it (``cache_dir("models")``); created if
    needed."""
    root = os.environ.get(CACHE_ENV_VAR)
    path = (Path(root) if root else Path.home() / ".cache" / "llmcourse").joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{path}: cannot create llmcourse's cache directory ({err.strerror or err}); set "
                        f"${CACHE_ENV_VAR} to a writable directory to move the cache") from None
    return path


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_json(name: str, source: Path, settings: dict, build):
    """Return ``build()``'s JSON-serialisable result, cached on disk.

    The cache key is a hash of the source file's contents and ``settings``; the entry is a sealed
    file (``llmcourse.sealed``, kind ``"llmcourse cache entry"``) whose payload is
    ``{"key": key, "data": build()}``. An entry that is missing, unreadable, for another key, or
    altered is rebuilt (with a one-line warning when it existed); one written by a newer llmcourse
    is refused with ``SealedFormatError`` (upgrade), not overwritten.
    """
    key = digest({"name": name, "source": _file_digest(source), "settings": settings,
                  "format": _CACHE_FORMAT})[:16]
    path = cache_dir() / f"{name}-{key}.json"
    if path.exists():
        try:
            entry = read_sealed(path, _CACHE_KIND, _CACHE_FORMAT)
            if not isinstance(entry, dict) or sorted(entry) != ["data", "key"] or entry["key"] != key:
                raise SealedError(path, f"is not the cache entry for the key {key}")
            return entry["data"]
        except SealedFormatError:
            raise
        except SealedError as err:
            warnings.warn(f"{path}: corrupt cache entry (it {err.problem}); rebuilding it", stacklevel=2)
    payload = build()
    write_sealed(path, _CACHE_KIND, {"key": key, "data": payload}, _CACHE_FORMAT)
    return payload


# --------------------------------------------------------------------------- splits
def split_documents(ids, fractions=DEFAULT_FRACTIONS, seed: int = DEFAULT_SPLIT_SEED) -> dict[str, list]:
    """Assign whole documents to train/validation/test, deterministically.

    ``ids`` are document identifiers (e.g. titles). The identifiers are sorted, shuffled with
    ``seed`` and cut by ``fractions``, so the split depends only on the set of ids, not their order.
    Every split gets at least one document.
    """
    ids = list(ids)
    if len(set(ids)) != len(ids):
        raise DataError("document ids must be unique")
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise DataError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
    if len(ids) < 3:
        raise DataError(f"need at least 3 documents to split into {SPLITS}, got {len(ids)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = [sorted(ids)[i] for i in order]
    n_val = max(1, round(fractions[1] * len(ids)))
    n_test = max(1, round(fractions[2] * len(ids)))
    n_train = len(ids) - n_val - n_test
    return {
        "train": shuffled[:n_train],
        "validation": shuffled[n_train : n_train + n_val],
        "test": shuffled[n_train + n_val :],
    }


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


# --------------------------------------------------------------------------- Wikipedia
_MIN_ARTICLE_CHARS = 500
_MIN_PARAGRAPH_CHARS = 40


def clean_wiki_text(raw_markup: str) -> str:
    """Wiki markup → plain paragraphs: gensim's ``filter_wiki``, then our own tidying.

    ``filter_wiki`` removes links, templates, tables and references. We then drop the leftovers
    that are not prose: headings (``== History ==``), list and table lines, and lines shorter than
    40 characters; remove bold/italic quote marks; and join paragraphs with one blank line.
    """
    from gensim.corpora.wikicorpus import filter_wiki

    text = filter_wiki(raw_markup)
    text = re.sub(r"'{2,}", "", text)
    paragraphs = []
    for line in text.splitlines():
        line = re.sub(r"[ \t]+", " ", line).strip()
        if len(line) < _MIN_PARAGRAPH_CHARS or line[0] in "=*#:;|!{}":
            continue
        if line.lower().startswith(("thumb", "image:", "file:", "category:")):
            continue
        paragraphs.append(line)
    return "\n\n".join(paragraphs)


def _build_wikipedia() -> list[list[str]]:
    from gensim.corpora.wikicorpus import extract_pages

    articles = []
    with bz2.BZ2File(gensim_data_path(WIKI_FILE)) as f:
        for title, markup, _page_id in extract_pages(f):
            if markup.lstrip().upper().startswith("#REDIRECT"):
                continue
            text = clean_wiki_text(markup)
            if len(text) >= _MIN_ARTICLE_CHARS:
                articles.append([title, text])
    return articles


@dataclass(frozen=True)
class Article:
    title: str
    text: str


def wikipedia_articles(split: str | None = None) -> list[Article]:
    """Clean articles of the bundled Wikipedia sample, all or one split (by article)."""
    settings = {"min_article": _MIN_ARTICLE_CHARS, "min_paragraph": _MIN_PARAGRAPH_CHARS, "v": 1}
    rows = cached_json("wikipedia", gensim_data_path(WIKI_FILE), settings, _build_wikipedia)
    articles = [Article(title, text) for title, text in rows]
    if split is None:
        return articles
    _check_split(split)
    chosen = set(split_documents([a.title for a in articles])[split])
    return [a for a in articles if a.title in chosen]


def wikipedia_text(split: str = "train", max_chars: int | None = None) -> str:
    """The articles of one split joined by blank lines, optionally cut to ``max_chars``.

    The validation split is the book's scoreboard: every language model reports its bits per
    character on ``wikipedia_text("validation")``.
    """
    if max_chars is not None and max_chars < 1:
        raise DataError(f"max_chars must be >= 1 or None, got {max_chars}")
    text = "\n\n".join(a.text for a in wikipedia_articles(split))
    return text if max_chars is None else text[:max_chars]


# --------------------------------------------------------------------------- Lee news corpus
def lee_corpus() -> list[str]:
    """The Lee news corpus (Lee et al., 2005): background + test news documents, one string each (the files are Windows-1252)."""
    docs = []
    for name in ("lee_background.cor", "lee.cor"):
        with open(gensim_data_path(name), encoding="cp1252") as f:
            docs.extend(line.strip() for line in f if line.strip())
    return docs


# --------------------------------------------------------------------------- sentiment
POLARITY_LABELS = ("negative", "positive")


@dataclass(frozen=True)
class Polarity:
    """Pang–Lee sentences and labels (1 = positive, 0 = negative)."""

    sentences: list[str]
    labels: np.ndarray


def polarity_sentences() -> Polarity:
    """The Pang & Lee (2005) sentence-polarity sample shipped by gensim: 100 positive, 100 negative."""
    sentences, labels = [], []
    # the file is Windows-1252 (it has é and the long dash as single bytes)
    with open(gensim_data_path("pang_lee_polarity.cor"), encoding="cp1252") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            tag, _, sentence = line.partition(" ")
            if tag not in ("__label__neg", "__label__pos"):
                raise DataError(f"pang_lee_polarity.cor line {number}: unexpected label {tag!r}")
            sentences.append(sentence.strip())
            labels.append(1 if tag == "__label__pos" else 0)
    return Polarity(sentences, np.asarray(labels, dtype=np.int32))


# --------------------------------------------------------------------------- word similarity
@dataclass(frozen=True)
class WordPairs:
    """Word pairs with human similarity scores."""

    pairs: list[tuple[str, str]]
    scores: np.ndarray
    path: Path  # the file, for gensim's ``KeyedVectors.evaluate_word_pairs``


def _read_pairs(path: Path) -> WordPairs:
    pairs, scores = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3:
                raise DataError(f"{path.name} line {number}: expected 3 tab-separated columns")
            pairs.append((cols[0].lower(), cols[1].lower()))
            scores.append(float(cols[2]))
    return WordPairs(pairs, np.asarray(scores), path)


def wordsim353() -> WordPairs:
    """WordSim-353 (Finkelstein et al., 2002): relatedness of 353 word pairs, 0–10."""
    return _read_pairs(gensim_data_path("wordsim353.tsv"), )


def simlex999() -> WordPairs:
    """SimLex-999 (Hill et al., 2015): similarity (not relatedness) of 999 pairs, 0–10."""
    return _read_pairs(gensim_data_path("simlex999.txt"), )


def analogy_questions_path() -> Path:
    """Mikolov et al.'s (2013) analogy questions, for ``KeyedVectors.evaluate_word_analogies``."""
    return gensim_data_path("questions-words.txt")


# --------------------------------------------------------------------------- digits
@dataclass(frozen=True)
class Digits:
    """8×8 grey-scale digit images scaled to [0, 1], flattened to 64 numbers, with labels 0–9."""

    images: np.ndarray  # (n, 64) float32
    labels: np.ndarray  # (n,) int32


def digits(split: str | None = None, seed: int = DEFAULT_SPLIT_SEED) -> Digits:
    """scikit-learn's bundled digits (1,797 images), all or one 80/10/10 split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.data / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int32)
    if split is None:
        return Digits(images, labels)
    _check_split(split)
    index = split_documents(list(range(len(labels))), seed=seed)[split]
    index = np.asarray(sorted(index))
    return Digits(images[index], labels[index])


# --------------------------------------------------------------------------- token windows
class TokenWindows:
    """Windows of ``seq_len + 1`` consecutive tokens of an encoded text — characters for chapter 7's
    recurrent networks, BPE tokens for the GPTs: ``x`` is the first ``seq_len``, ``y`` the same
    shifted by one (the token to predict at every position).

    ``next_batch`` draws random windows (the start of each uniform over every possible start),
    seeded; ``next_batches(count, ...)`` draws ``count`` batches at once for the engine's fused
    steps; ``batches_in_order`` gives non-overlapping windows from the start, for evaluation.
    """

    def __init__(self, ids, seq_len: int, seed: int = 0):
        self.ids = np.asarray(ids, dtype=np.int32).reshape(-1)
        if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
            raise DataError(f"seq_len must be a positive integer, got {seq_len!r}")
        self.seq_len = int(seq_len)
        if self.seq_len + 1 > len(self.ids):
            raise DataError(f"seq_len={seq_len} is longer than the data allows: a window needs seq_len + 1 = "
                             f"{seq_len + 1} tokens and the text has {len(self.ids)}")
        self.size = len(self.ids) - self.seq_len  # number of distinct windows
        self._rng = np.random.default_rng(seed)
        self._offsets = np.arange(self.seq_len + 1)

    def __len__(self) -> int:
        return self.size

    def _windows(self, starts: np.ndarray):
        w = self.ids[starts[..., None] + self._offsets]  # (..., seq_len + 1)
        return {"x": w[..., :-1], "y": w[..., 1:]}

    def next_batch(self, batch_size: int):
        return self._windows(self._rng.integers(0, self.size, size=batch_size))

    def next_batches(self, count: int, batch_size: int):
        return self._windows(self._rng.integers(0, self.size, size=(count, batch_size)))

    def batches_in_order(self, batch_size: int):
        starts = np.arange(0, self.size, self.seq_len)
        for i in range(0, len(starts), batch_size):
            yield self._windows(starts[i : i + batch_size])
