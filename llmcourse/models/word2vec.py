"""word2vec: skip-gram and CBOW with negative sampling (Mikolov et al., 2013).

Every word of the vocabulary gets two vectors of ``dims`` numbers: an *input* vector ``v`` (the
row of ``input_vectors``, the word embedding we keep) and an *output* vector ``u`` (the row of
``output_vectors``, used only while training). Training turns a corpus into examples

* **skip-gram**: a centre word predicts one word of its window: the input is the centre word,
  ``h = v_centre``, the true target the context word;
* **CBOW** (continuous bag of words): the window predicts the centre word: the input is the mean of
  the context words' input vectors, ``h = mean(v_context)``, the true target the centre word;

and for each example draws ``K`` *noise* words from the unigram distribution raised to the power
3/4. The loss (``negative_sampling_loss``) rewards a high score ``u · h`` for the true target and a
low one for the noise words. What this module does, step by step, and where it follows the
original C code (and gensim) rather than the paper:

1. **Vocabulary** (``Vocabulary.build``): words seen at least ``min_count`` times, most frequent
   first. Other words are removed from the text before anything else (so windows reach across them).
2. **Subsampling of frequent words** (``keep_probabilities``), redrawn every epoch: a word of
   frequency ``f`` (its share of the in-vocabulary words) is kept with probability
   ``(sqrt(f / t) + 1) · t / f`` (capped at 1), the formula of the word2vec C code and gensim. The
   paper writes the discard probability ``1 − sqrt(t / f)`` instead; both keep rare words and
   thin out words far more frequent than ``t``.
3. **Dynamic window** (``skipgram_pairs``, ``cbow_windows``): every centre word draws its own reach
   ``b`` uniformly from ``1 … window``, over the words that survived subsampling, never across a
   sentence boundary. Near words are thus used more often than far ones.
4. **Noise** (``NoiseTable``): the unigram counts to the power 3/4, sampled from a table as in the C
   code. A noise word that happens to be the true target is skipped (weight 0), as in word2vec.
5. **Training** (``llmcourse.experiments.word_embeddings.train_word2vec``) runs the book's engine, ``llmcourse.training``, with plain SGD
   and a learning rate that decays linearly to 0 over the run, the original schedule. A step is a
   sparse update (``sparse_sgd_update``): it gathers the rows of the batch's words, differentiates
   the loss with respect to those rows only, and scatter-adds ``−learning_rate × gradient`` into
   them; the rest of each table is never touched. Gradients are summed over the batch, not
   averaged, so every example takes a full SGD step as in word2vec's one-example-at-a-time loop;
   steps of examples that share a row add up. (``benchmarks/word2vec.py`` measures this against a
   dense update and against noise words shared by the whole batch; this was the fastest.)

Differences from gensim that remain: examples are shuffled within each epoch and applied a batch
at a time, where gensim goes through the text in order, one example at a time. With
``shuffle=False`` (text order) successive examples come from one passage; in one run at the cpu
preset (seed 0) our vectors then scored close to gensim's on WordSim-353, a few hundredths below the
shuffled run (``tests/test_claims_ch06.py``); one seed, so a hint rather than a rule. Also, the
learning rate decays to 0 (gensim stops at 0.0001), and skip-gram uses the centre word as input
(the paper), where the C code and gensim use the context word — the same pairs read the other way
round. Text: lower-cased with the book's ``words`` rule; punctuation tokens (tokens with no letter
or digit) are dropped.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from llmcourse.data import lee_corpus, wikipedia_text
from llmcourse.tokenizers import words

ARCHITECTURES = ("skip-gram", "cbow")
NOISE_POWER = 0.75  # unigram counts^(3/4): Mikolov et al. (2013)
_HAS_WORD_CHAR = re.compile(r"[^\W_]")


class Word2VecError(ValueError):
    """Bad input to word2vec: an empty corpus, a min_count that removes every word, a window < 1, ..."""


# =========================================================================== text
def sentence_words(text: str) -> list[str]:
    """``words(text)`` without punctuation tokens: lower-case words, numbers, ``it's``, ``well-known``."""
    return [w for w in words(text) if _HAS_WORD_CHAR.search(w)]


def training_sentences(wiki_chars: int | None = None) -> list[list[str]]:
    """The chapter's corpus: the Wikipedia train split (its first ``wiki_chars`` characters; all of
    it when None or larger) cut into paragraphs, then every document of the Lee news corpus. One
    "sentence" is one paragraph or one news document: windows never reach across it."""
    text = wikipedia_text("train", max_chars=wiki_chars)
    sentences = [sentence_words(p) for p in text.split("\n\n")] + [sentence_words(d) for d in lee_corpus()]
    return [s for s in sentences if s]


def _check_sentences(sentences) -> list[list[str]]:
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of sentences, each a list of words, got a single str")
    sentences = list(sentences)
    for i, s in enumerate(sentences[:1000]):  # spot-check the shape; the whole corpus is read later
        if isinstance(s, str) or not all(isinstance(w, str) for w in s):
            raise TypeError(f"sentence {i} must be a list of str words, got {s!r:.80}")
    if not any(len(s) for s in sentences):
        raise Word2VecError("the corpus is empty: no sentence has a word")
    return sentences


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise Word2VecError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


# =========================================================================== vocabulary
@dataclass(frozen=True)
class EncodedCorpus:
    """The corpus as arrays: every in-vocabulary word's id and the sentence it belongs to."""

    ids: np.ndarray  # (n,) int32, sentences concatenated
    sentence: np.ndarray  # (n,) int32, non-decreasing
    raw_words: int  # words in the sentences before out-of-vocabulary words were removed


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Words seen at least ``min_count`` times, most frequent first (ties in alphabetical order)."""

    words: tuple[str, ...]
    counts: np.ndarray  # (V,) int64
    min_count: int

    @classmethod
    def build(cls, sentences, min_count: int = 5) -> "Vocabulary":
        sentences = _check_sentences(sentences)
        min_count = _positive_int("min_count", min_count)
        from collections import Counter

        counter = Counter(w for s in sentences for w in s)
        kept = sorted(((c, w) for w, c in counter.items() if c >= min_count), key=lambda cw: (-cw[0], cw[1]))
        if not kept:
            raise Word2VecError(
                f"min_count={min_count} removes every word: the most frequent word, "
                f"{counter.most_common(1)[0][0]!r}, occurs {counter.most_common(1)[0][1]} times"
            )
        return cls(tuple(w for _, w in kept), np.array([c for c, _ in kept], dtype=np.int64), min_count)

    def __len__(self) -> int:
        return len(self.words)

    @cached_property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, sentences) -> EncodedCorpus:
        """Ids of the in-vocabulary words of every sentence; other words are dropped."""
        sentences = _check_sentences(sentences)
        index = self.index
        encoded = [[index[w] for w in s if w in index] for s in sentences]
        lengths = np.array([len(s) for s in encoded], dtype=np.int64)
        if lengths.sum() == 0:
            raise Word2VecError("no word of these sentences is in the vocabulary")
        ids = np.fromiter((i for s in encoded for i in s), dtype=np.int32, count=int(lengths.sum()))
        sentence = np.repeat(np.arange(len(encoded), dtype=np.int32), lengths)
        return EncodedCorpus(ids, sentence, sum(len(s) for s in sentences))

    def keep_probabilities(self, sample: float) -> np.ndarray:
        """Subsampling: the probability of keeping each word, ``min(1, (sqrt(f/t) + 1) · t/f)``.

        ``f`` is the word's share of all in-vocabulary words and ``t = sample``; this is the formula
        of the word2vec C code and gensim (the paper's variant discards with ``1 − sqrt(t/f)``).
        A word with ``f = t`` is kept with probability 1; ``f = 100 t`` keeps about 11%.
        """
        if not (isinstance(sample, (int, float)) and 0 < sample < 1):
            raise Word2VecError(f"sample must be a number in (0, 1), e.g. 1e-3, got {sample!r}")
        f = self.counts / self.counts.sum()
        return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)

    def noise_distribution(self, power: float = NOISE_POWER) -> np.ndarray:
        """P(noise word = w) ∝ count(w)^power (3/4 in word2vec): frequent words are drawn less
        often than their frequency, rare words more often."""
        p = self.counts.astype(np.float64) ** power
        return p / p.sum()


class NoiseTable:
    """Draws noise words from a distribution with one integer draw per word, as the C code does:
    a table of ``size`` cells in which word ``w`` fills ``p(w) · size`` cells (rounded) in a row.

    The C code uses 10⁸ cells; 2²¹ (8 MB, small enough to stay in the processor's cache, which makes
    drawing several times faster) is plenty for our vocabularies: the rarest word of the chapter's
    vocabulary fills about 70 cells, so rounding changes its probability by less than 1%.
    """

    def __init__(self, probabilities: np.ndarray, size: int = 2**21):
        cumulative = np.cumsum(probabilities, dtype=np.float64)
        ends = np.round(cumulative / cumulative[-1] * size).astype(np.int64)  # word w fills cells ends[w-1]..ends[w]
        cells = np.diff(ends, prepend=0)
        self.table = np.repeat(np.arange(len(cells), dtype=np.int32), cells)

    def sample(self, shape, rng: np.random.Generator, out: np.ndarray | None = None) -> np.ndarray:
        """Noise words of the given shape (written into ``out`` when given)."""
        cells = rng.integers(0, len(self.table), size=shape, dtype=np.int32)
        return np.take(self.table, cells, out=out)


# =========================================================================== examples
def subsample(corpus: EncodedCorpus, keep: np.ndarray, rng: np.random.Generator):
    """Keep each word with its probability ``keep[id]``; returns the kept ids and their sentences."""
    survive = rng.random(len(corpus.ids)) < keep[corpus.ids]
    return corpus.ids[survive], corpus.sentence[survive]


def skipgram_pairs(sentence: np.ndarray, reach: np.ndarray, window: int):
    """All (centre, context) position pairs of the dynamic window, vectorised over the corpus.

    ``sentence[i]`` is the sentence of position ``i`` and ``reach[i]`` in ``1 … window`` how far
    centre ``i`` looks on each side. Position ``j`` is a context of ``i`` when ``0 < |i − j| ≤
    reach[i]`` and both are in the same sentence. One NumPy pass per distance, not per word.
    """
    n = len(sentence)
    centres, contexts = [], []
    for d in range(1, window + 1):
        left = np.arange(max(n - d, 0))  # position pairs (left, left + d)
        same = sentence[: n - d] == sentence[d:]
        right_sees_left = same & (reach[d:] >= d)  # centre left + d, context left
        left_sees_right = same & (reach[: n - d] >= d)  # centre left, context left + d
        centres += [left[right_sees_left] + d, left[left_sees_right]]
        contexts += [left[right_sees_left], left[left_sees_right] + d]
    return np.concatenate(centres), np.concatenate(contexts)


def cbow_windows(sentence: np.ndarray, reach: np.ndarray, window: int):
    """For every position, the positions of its context words: ``(n, 2·window)`` indices and a mask
    (``True`` where the slot holds a context word of the same sentence within the reach)."""
    n = len(sentence)
    positions = np.arange(n)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])  # (2W,)
    context = positions[:, None] + offsets[None, :]  # (n, 2W)
    inside = (context >= 0) & (context < n)
    context = np.clip(context, 0, max(n - 1, 0))
    mask = inside & (np.abs(offsets)[None, :] <= reach[:, None]) & (sentence[context] == sentence[:, None])
    return context, mask


# =========================================================================== settings
@dataclass(frozen=True)
class Word2VecSettings:
    """The hyper-parameters of one word2vec run; ``gensim_kwargs()`` gives the same ones to gensim."""

    architecture: str = "skip-gram"  # or "cbow"
    dims: int = 100
    window: int = 5
    negatives: int = 5
    min_count: int = 5
    sample: float = 1e-3
    epochs: int = 5
    batch_size: int = 1024  # examples per SGD step (pairs for skip-gram, windows for CBOW)
    learning_rate: float = 0.025  # at the start; decays linearly to 0
    seed: int = 0
    steps_per_call: int = 50  # steps fused into one compiled call (engine option)
    shuffle: bool = True  # shuffle each epoch's examples; False: text order, as gensim and the C code go

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise Word2VecError(f"unknown architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
        for name in ("dims", "window", "negatives", "min_count", "epochs", "batch_size", "steps_per_call"):
            _positive_int(name, getattr(self, name))
        if not (isinstance(self.sample, (int, float)) and 0 < self.sample < 1):
            raise Word2VecError(f"sample must be a number in (0, 1), e.g. 1e-3, got {self.sample!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0 and np.isfinite(self.learning_rate)):
            raise Word2VecError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise Word2VecError(f"seed must be an int >= 0, got {self.seed!r}")
        if not isinstance(self.shuffle, bool):
            raise Word2VecError(f"shuffle must be True or False, got {self.shuffle!r}")

    @classmethod
    def from_preset(cls, cfg, **changes) -> "Word2VecSettings":
        """The chapter-6 sizes of a preset (``cfg.w2v_*``), with optional changes."""
        base = dict(dims=cfg.w2v.dims, window=cfg.w2v.window, negatives=cfg.w2v.negatives,
                    min_count=cfg.w2v.min_count, sample=cfg.w2v.sample, epochs=cfg.w2v.epochs,
                    batch_size=cfg.w2v.batch, learning_rate=cfg.w2v.learning_rate, seed=cfg.seed)
        return cls(**{**base, **changes})

    def replace(self, **changes) -> "Word2VecSettings":
        import dataclasses

        return dataclasses.replace(self, **changes)

    def gensim_kwargs(self, workers: int = 2) -> dict:
        """The same hyper-parameters for ``gensim.models.Word2Vec`` (negative sampling, no
        hierarchical softmax, mean of the context for CBOW)."""
        return dict(vector_size=self.dims, window=self.window, negative=self.negatives, hs=0,
                    ns_exponent=NOISE_POWER, min_count=self.min_count, sample=self.sample,
                    epochs=self.epochs, alpha=self.learning_rate, min_alpha=1e-4 * self.learning_rate / 0.025,
                    sg=int(self.architecture == "skip-gram"), cbow_mean=1, workers=workers, seed=self.seed)


# =========================================================================== data source
class Word2VecData:
    """Training examples for the engine, made on the host with NumPy, one epoch at a time.

    Every epoch draws a new subsample and new window reaches, makes every example, and shuffles
    them (unless ``settings.shuffle`` is False). ``next_batches(count, batch_size)`` serves them in that order (running into the next
    epoch when one is used up) with freshly drawn noise words. A batch is a dict of arrays:

    * ``inputs`` (batch, C) int32: the input words — the centre word (C = 1) for skip-gram, the
      context slots (C = 2·window) for CBOW;
    * ``input_weights`` (batch, C) float32, CBOW only: 1/(number of context words) in used slots, 0
      in empty ones, so ``Σ_c weight_c · v_c`` is the mean of the context vectors;
    * ``targets`` (batch, 1 + K) int32: the true target word first, then K noise words.
    """

    def __init__(self, corpus: EncodedCorpus, vocab: Vocabulary, settings: Word2VecSettings):
        self.corpus, self.settings = corpus, settings
        self.keep = vocab.keep_probabilities(settings.sample)
        self.noise = NoiseTable(vocab.noise_distribution())
        self._rng = np.random.default_rng(settings.seed)
        self.epochs_made = 0
        self._buffer = self._make_epoch()
        self.examples_per_epoch = len(self._buffer["targets"])  # of the first epoch; later ones vary a little
        if self.examples_per_epoch == 0:
            raise Word2VecError("the corpus gives no training example: every sentence has a single word")

    def _make_epoch(self) -> dict[str, np.ndarray]:
        s, rng = self.settings, self._rng
        ids, sentence = subsample(self.corpus, self.keep, rng)
        reach = rng.integers(1, s.window + 1, size=len(ids))  # dynamic window: 1 … window
        if s.architecture == "skip-gram":
            centre, context = skipgram_pairs(sentence, reach, s.window)
            if not s.shuffle:  # text order: by centre position, then context position
                text_order = np.lexsort((context, centre))
                centre, context = centre[text_order], context[text_order]
            examples = {"inputs": ids[centre][:, None], "targets": ids[context]}
        else:
            context, mask = cbow_windows(sentence, reach, s.window)
            count = mask.sum(1)
            has = count > 0  # a centre word with no context word left gives no example
            weights = mask[has] / count[has, None]
            examples = {"inputs": np.where(mask[has], ids[context[has]], 0).astype(np.int32),
                        "input_weights": weights.astype(np.float32), "targets": ids[has]}
        self.epochs_made += 1
        if not s.shuffle:
            return examples
        order = rng.permutation(len(examples["targets"]))
        return {k: v[order] for k, v in examples.items()}

    def next_batches(self, count: int, batch_size: int) -> dict[str, np.ndarray]:
        need = count * batch_size
        while len(self._buffer["targets"]) < need:
            more = self._make_epoch()
            self._buffer = {k: np.concatenate([self._buffer[k], more[k]]) for k in self._buffer}
        batch = {k: v[:need] for k, v in self._buffer.items()}
        self._buffer = {k: v[need:] for k, v in self._buffer.items()}
        targets = np.empty((need, 1 + self.settings.negatives), dtype=np.int32)  # true word, then noise
        targets[:, 0] = batch["targets"]
        noise = self.noise.sample((need, self.settings.negatives), self._rng)
        targets[:, 1:] = noise
        batch["targets"] = targets
        return {k: v.reshape(count, batch_size, *v.shape[1:]) for k, v in batch.items()}

    def next_batch(self, batch_size: int) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.next_batches(1, batch_size).items()}


# =========================================================================== the model
class Word2Vec(nnx.Module):
    """Two tables of ``dims`` numbers per word: ``input_vectors`` (the embeddings) and
    ``output_vectors``. Initialised as in word2vec: inputs uniform in ±0.5/dims, outputs zero."""

    def __init__(self, vocab_size: int, dims: int, *, rngs: nnx.Rngs):
        _positive_int("vocab_size", vocab_size)
        _positive_int("dims", dims)
        init = jax.random.uniform(rngs.params(), (vocab_size, dims), minval=-0.5, maxval=0.5) / dims
        self.input_vectors = nnx.Param(init)  # (V, dims)
        self.output_vectors = nnx.Param(jnp.zeros((vocab_size, dims)))  # (V, dims)


def negative_sampling_loss(h: jax.Array, u: jax.Array, weights: jax.Array) -> jax.Array:
    """The negative-sampling loss of each example (Mikolov et al., 2013, eq. 4, negated):

    .. math::
        \\ell = -\\log \\sigma(u_{o} \\cdot h) - \\sum_{k=1}^{K} \\log \\sigma(-u_{k} \\cdot h)

    ``h`` (batch, dims): the input vector (skip-gram: the centre word's ``v``; CBOW: the mean of the
    context words' ``v``). ``u`` (batch, 1 + K, dims): the output vectors of the true target ``o``
    (index 0) and of K noise words. ``weights`` (batch, 1 + K): 1, or 0 for a noise word to skip.
    Returns (batch,). ``σ(−x) = 1 − σ(x)``: a noise word costs little when its score is very negative.
    The gradients, for the update: ``∂ℓ/∂h = (σ(u_o·h) − 1) u_o + Σ_k σ(u_k·h) u_k``,
    ``∂ℓ/∂u_o = (σ(u_o·h) − 1) h`` and ``∂ℓ/∂u_k = σ(u_k·h) h``.
    """
    scores = jnp.einsum("bd,bjd->bj", h, u)  # (batch, 1 + K)
    sign = jnp.where(jnp.arange(u.shape[1]) == 0, 1.0, -1.0)  # +1 for the true word, −1 for noise
    return -jnp.sum(weights * jax.nn.log_sigmoid(sign * scores), axis=-1)  # (batch,)


def input_vector(v: jax.Array, batch) -> jax.Array:
    """``h`` (batch, dims) from the gathered input rows ``v`` (batch, C, dims): the centre word's
    vector for skip-gram (C = 1), the mean of the context words' vectors for CBOW."""
    if "input_weights" in batch:  # CBOW: weights are 1/count in used slots, 0 in empty ones
        return jnp.einsum("bc,bcd->bd", batch["input_weights"], v)
    return v[:, 0]


def target_weights(targets: jax.Array) -> jax.Array:
    """(batch, 1 + K) weights: 1, except 0 for a noise word equal to the true target (word2vec
    skips those)."""
    noise_ok = targets[:, 1:] != targets[:, :1]
    return jnp.concatenate([jnp.ones_like(noise_ok[:, :1]), noise_ok], axis=1).astype(jnp.float32)


def word2vec_loss(model: Word2Vec, batch) -> tuple[jax.Array, dict]:
    """Mean negative-sampling loss of a batch, in the engine's ``loss_fn(model, batch)`` form."""
    h = input_vector(model.input_vectors[...][batch["inputs"]], batch)
    u = model.output_vectors[...][batch["targets"]]
    return negative_sampling_loss(h, u, target_weights(batch["targets"])).mean(), {}


def sparse_sgd_update(model: Word2Vec, batch, learning_rate: jax.Array) -> tuple[jax.Array, dict]:
    """One SGD step that reads and writes only the rows of this batch's words.

    1. gather the input rows ``v`` and output rows ``u`` of the batch;
    2. differentiate the *summed* loss with respect to ``h`` and the gathered ``u`` (each
       example's own gradient: an example's rows appear in no other example's loss);
    3. scatter-add ``−learning_rate × gradient`` into the tables; a row used by several examples
       receives the sum.

    Every input word receives the whole ``∂ℓ/∂h``. For skip-gram that is the gradient; for CBOW it
    is what the word2vec C code and gensim (``cbow_mean=1``) do — the exact gradient of the mean
    would give each context word only ``1/count`` of it, and learns markedly worse.
    The engine's ``update=`` hook calls this inside its compiled step.
    """
    inputs, targets = batch["inputs"], batch["targets"]  # (batch, C), (batch, 1 + K)
    v = model.input_vectors[...][inputs]  # (batch, C, dims): gather
    u = model.output_vectors[...][targets]  # (batch, 1 + K, dims)
    weights = target_weights(targets)
    total, (grad_h, grad_u) = jax.value_and_grad(
        lambda h, u: negative_sampling_loss(h, u, weights).sum(), argnums=(0, 1))(input_vector(v, batch), u)
    used = batch["input_weights"] > 0 if "input_weights" in batch else jnp.ones(inputs.shape, bool)
    grad_v = jnp.where(used[:, :, None], grad_h[:, None, :], 0.0)  # (batch, C, dims)
    model.input_vectors[...] = model.input_vectors[...].at[inputs].add(-learning_rate * grad_v)  # scatter
    model.output_vectors[...] = model.output_vectors[...].at[targets].add(-learning_rate * grad_u)
    return total / targets.shape[0], {}


def to_keyed_vectors(vectors, words, counts=None):
    """gensim ``KeyedVectors`` holding exactly ``vectors`` (float32) under ``words``, so gensim's
    ``most_similar``, ``evaluate_word_pairs`` and ``evaluate_word_analogies`` work on them."""
    from gensim.models import KeyedVectors

    vectors = np.asarray(vectors, dtype=np.float32)
    words = list(words)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise Word2VecError(f"need one row per word: {len(words)} words, vectors of shape {vectors.shape}")
    if len(set(words)) != len(words):
        raise Word2VecError("words must be unique")
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(words, vectors)
    if counts is not None:  # word counts, as gensim's own models store them (most_similar can use them)
        kv.allocate_vecattrs(["count"], [np.int64])
        kv.expandos["count"][:] = np.asarray(counts, dtype=np.int64)
    return kv
