"""Chapter 6's experiments: word2vec trained by ``llmcourse`` and by gensim on the same text,
evaluated by gensim's own ``evaluate_word_pairs``, ``evaluate_word_analogies`` and ``most_similar``.

The notebook calls these functions; its claims tests (``tests/test_claims_ch06.py``) assert what
the prose states on the values the notebook glued when the book was executed at the ``cpu`` preset. ``benchmarks/word2vec.py`` uses them too.

* ``train_word2vec`` — the book's word2vec (``llmcourse.models.word2vec``) trained by the book's engine.
* ``evaluate_vectors`` — WordSim-353 and SimLex-999 Spearman correlations, analogy accuracy.
* ``train_gensim`` — gensim's ``Word2Vec`` with the same hyper-parameters (``workers=2``), timed.
* ``neighbours``, ``project_2d`` — nearest neighbours and a 2-D view of chosen word groups.
* ``planted_corpus`` — a generated corpus whose words come in known groups (for tests and an exercise).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

import jax
from flax import nnx
from sklearn.decomposition import PCA

from llmcourse.data import analogy_questions_path, simlex999, wordsim353
from llmcourse.models.word2vec import (
    Vocabulary,
    Word2Vec,
    Word2VecData,
    Word2VecError,
    Word2VecSettings,
    _check_sentences,
    sparse_sgd_update,
    to_keyed_vectors,
    word2vec_loss,
)
from llmcourse.training import TrainConfig, Trainer

# Word groups for the 2-D picture and the neighbour checks: each group one kind of word.
WORD_GROUPS = {
    "months": ["january", "february", "march", "april", "june", "july", "august", "september",
               "october", "november", "december"],
    "numbers": ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    "family": ["father", "mother", "son", "daughter", "brother", "sister", "wife", "husband"],
    "countries": ["france", "germany", "italy", "spain", "england", "russia", "china", "japan", "india"],
}


# --------------------------------------------------------------------------- training
@dataclass
class TrainedWord2Vec:
    """A trained model with its vocabulary, settings and what training measured."""

    model: Word2Vec
    vocab: Vocabulary
    settings: Word2VecSettings
    history: object  # llmcourse.training.History
    seconds: float  # wall time of training: examples, compilation and steps (vocabulary excluded)
    words_trained: int  # corpus words × epochs (every word of the text, as gensim's words/s counts them)
    cpu_seconds: float = 0.0  # CPU time of this process while training (all threads)
    steps: int = 0
    examples_per_epoch: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def words_per_second(self) -> float:
        return self.words_trained / self.seconds

    @property
    def vectors(self) -> np.ndarray:
        """The word embeddings: the input vectors, (V, dims) float32, in ``vocab.words`` order."""
        return np.asarray(self.model.input_vectors[...])

    def to_keyed_vectors(self):
        """The embeddings as gensim ``KeyedVectors`` (exact copies, most frequent word first)."""
        return to_keyed_vectors(self.vectors, self.vocab.words, self.vocab.counts)


def train_config(settings: Word2VecSettings, steps: int, progress: bool | None = None):
    """The engine configuration word2vec trains with: plain SGD, linear decay to 0, no clipping."""
    return TrainConfig(steps=steps, batch_size=settings.batch_size, learning_rate=settings.learning_rate,
                       optimizer="sgd", momentum=0.0, schedule="linear", clip_norm=None,
                       steps_per_call=settings.steps_per_call, log_every=10 * settings.steps_per_call,
                       seed=settings.seed, progress=progress, data_parallel=False)


def train_word2vec(sentences, settings: Word2VecSettings | None = None, progress: bool | None = None,
                   vocab: Vocabulary | None = None) -> TrainedWord2Vec:
    """Train word2vec on ``sentences`` (a list of lists of words) with the book's engine.

    The number of steps is ``epochs × examples of the first epoch / batch_size`` (later epochs
    differ by a fraction of a percent, as subsampling and windows are redrawn), rounded to a whole
    number of fused calls of ``steps_per_call`` steps. ``vocab``: a
    vocabulary already built from these sentences with ``settings.min_count`` (saves a pass).
    """
    settings = settings or Word2VecSettings()
    sentences = _check_sentences(sentences)
    if vocab is None:
        vocab = Vocabulary.build(sentences, settings.min_count)
    elif vocab.min_count != settings.min_count:
        raise Word2VecError(f"the vocabulary was built with min_count={vocab.min_count}, settings say {settings.min_count}")
    corpus = vocab.encode(sentences)
    start, cpu = time.perf_counter(), time.process_time()
    data = Word2VecData(corpus, vocab, settings)
    steps = max(1, round(settings.epochs * data.examples_per_epoch / settings.batch_size))
    # a whole number of fused calls, so that one compiled program runs them all
    per_call = min(settings.steps_per_call, steps)
    steps = max(1, round(steps / per_call)) * per_call
    model = Word2Vec(len(vocab), settings.dims, rngs=nnx.Rngs(settings.seed))
    config = train_config(settings.replace(steps_per_call=per_call), steps, progress)
    trainer = Trainer(model, word2vec_loss, config, update=sparse_sgd_update)
    history = trainer.fit(data)
    jax.block_until_ready(model.input_vectors[...])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return TrainedWord2Vec(model, vocab, settings, history, seconds, corpus.raw_words * settings.epochs,
                           cpu_seconds=cpu, steps=steps, examples_per_epoch=data.examples_per_epoch)


# --------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Scores:
    """How well a set of word vectors agrees with people (gensim's evaluators)."""

    wordsim: float  # Spearman correlation with WordSim-353 (relatedness)
    simlex: float  # Spearman correlation with SimLex-999 (similarity)
    wordsim_oov: float  # share of WordSim-353 pairs left out: a word not in the vocabulary
    simlex_oov: float
    analogy: float  # accuracy on the analogy questions both of whose ... words are in the vocabulary
    analogy_semantic: float  # the semantic sections (capitals, currencies, family, ...)
    analogy_syntactic: float  # the 'gram' sections (plurals, tenses, comparatives, ...)
    analogy_questions: int  # questions answered (all four words in the vocabulary)


def _quiet_gensim():
    """gensim logs every evaluation at INFO level; the book's output should not show that."""
    logging.getLogger("gensim").setLevel(logging.WARNING)


def evaluate_vectors(kv) -> Scores:
    """WordSim-353 / SimLex-999 Spearman (``kv.evaluate_word_pairs``) and analogy accuracy
    (``kv.evaluate_word_analogies``) of gensim ``KeyedVectors``. Pairs or questions with a word
    outside the vocabulary are left out, as gensim does; the OOV shares say how many."""
    _quiet_gensim()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about ties; gensim about deprecated args
        _, ws, ws_oov = kv.evaluate_word_pairs(wordsim353().path)
        _, sl, sl_oov = kv.evaluate_word_pairs(simlex999().path)
        overall, sections = kv.evaluate_word_analogies(analogy_questions_path())
    semantic = [s for s in sections if not s["section"].startswith("gram") and s["section"] != "Total accuracy"]
    syntactic = [s for s in sections if s["section"].startswith("gram")]

    def accuracy(parts):
        right = sum(len(s["correct"]) for s in parts)
        total = right + sum(len(s["incorrect"]) for s in parts)
        return right / total if total else 0.0

    total = sum(len(s["correct"]) + len(s["incorrect"]) for s in semantic + syntactic)
    return Scores(float(ws[0]), float(sl[0]), ws_oov / 100, sl_oov / 100, float(overall),
                  accuracy(semantic), accuracy(syntactic), int(total))


# --------------------------------------------------------------------------- gensim
@dataclass
class GensimRun:
    """gensim's ``Word2Vec`` trained on the same sentences, and how long ``train`` took."""

    model: object  # gensim.models.Word2Vec
    seconds: float  # wall time of ``train`` (vocabulary building excluded, as for llmcourse)
    cpu_seconds: float  # CPU time of this process during ``train`` (all threads)
    words_trained: int  # corpus words × epochs

    @property
    def words_per_second(self) -> float:
        return self.words_trained / self.seconds

    @property
    def wv(self):
        return self.model.wv


def train_gensim(sentences, settings: Word2VecSettings, workers: int = 2) -> GensimRun:
    """gensim ``Word2Vec(**settings.gensim_kwargs(workers))``: build the vocabulary, then time ``train``."""
    from gensim.models import Word2Vec

    _quiet_gensim()
    sentences = [list(s) for s in sentences]
    model = Word2Vec(**settings.gensim_kwargs(workers))
    model.build_vocab(sentences)
    words = sum(len(s) for s in sentences)
    start, cpu = time.perf_counter(), time.process_time()
    model.train(sentences, total_examples=len(sentences), epochs=settings.epochs)
    return GensimRun(model, time.perf_counter() - start, time.process_time() - cpu, words * settings.epochs)


# --------------------------------------------------------------------------- looking at vectors
def neighbours(kv, words, topn: int = 5) -> dict[str, list[tuple[str, float]]]:
    """``kv.most_similar(word, topn)`` for every word of ``words`` that is in the vocabulary."""
    return {w: kv.most_similar(w, topn=topn) for w in words if w in kv.key_to_index}


def groups_in_vocabulary(kv, groups: dict[str, list[str]] = WORD_GROUPS) -> dict[str, list[str]]:
    """The words of each group that ``kv`` knows (groups left with fewer than 2 words are dropped)."""
    kept = {name: [w for w in members if w in kv.key_to_index] for name, members in groups.items()}
    return {name: members for name, members in kept.items() if len(members) >= 2}


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """Principal-component projection of the rows of ``vectors`` to 2-D (scikit-learn's ``PCA``),
    after scaling each row to length 1 (so the picture shows directions, as cosine similarity
    does). Returns (n, 2)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2 or x.shape[1] < 2:
        raise ValueError(f"need at least 2 vectors of at least 2 numbers in a 2-D array, got shape {x.shape}")
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return PCA(n_components=2, svd_solver="full").fit_transform(x)


def group_neighbour_rate(kv, groups: dict[str, list[str]], topn: int = 3) -> float:
    """Share of (word, neighbour) pairs, over each group word's ``topn`` nearest neighbours *among
    all the group words shown*, whose neighbour is in the word's own group."""
    words = [w for members in groups.values() for w in members]
    group_of = {w: name for name, members in groups.items() for w in members}
    hits = total = 0
    for w in words:
        others = [o for o in words if o != w]
        sims = np.array([kv.similarity(w, o) for o in others])
        for i in np.argsort(-sims)[:topn]:
            hits += group_of[others[i]] == group_of[w]
            total += 1
    return hits / total


def one_hot(index: int, size: int) -> np.ndarray:
    """The one-hot vector of word ``index`` in a vocabulary of ``size`` words."""
    if not 0 <= index < size:
        raise ValueError(f"index must be in 0..{size - 1}, got {index}")
    v = np.zeros(size, dtype=np.float32)
    v[index] = 1.0
    return v


def cosine_similarity(a, b) -> float:
    """cos(a, b) = a·b / (|a| |b|): 1 for the same direction, 0 for perpendicular vectors."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --------------------------------------------------------------------------- a corpus with known answers
def planted_corpus(groups: int = 4, words_per_group: int = 6, sentences: int = 2000, length: int = 12,
                   seed: int = 0) -> tuple[list[list[str]], dict[str, int]]:
    """Sentences in which words come in ``groups`` known groups, e.g. ``g2w5`` is word 5 of group 2.

    Each sentence picks one group and is made of random words of that group, with a few words of
    a shared 'filler' group mixed in (every group's sentences use them, like *the* and *of*). Words
    of one group thus share their contexts, and word2vec should place them close together.
    Returns the sentences and each word's group (fillers have group −1).
    """
    rng = np.random.default_rng(seed)
    vocab = [[f"g{g}w{i}" for i in range(words_per_group)] for g in range(groups)]
    fillers = [f"filler{i}" for i in range(4)]
    corpus = []
    for _ in range(sentences):
        g = rng.integers(groups)
        sentence = [vocab[g][i] if rng.random() < 0.75 else fillers[rng.integers(len(fillers))]
                    for i in rng.integers(words_per_group, size=length)]
        corpus.append(sentence)
    group_of = {w: g for g, members in enumerate(vocab) for w in members} | {f: -1 for f in fillers}
    return corpus, group_of


# --------------------------------------------------------------------------- side by side
@dataclass(frozen=True)
class SideBySide:
    """llmcourse and gensim trained on the same sentences with the same settings, and their scores."""

    settings: Word2VecSettings
    ours: object  # llmcourse.models.word2vec.TrainedWord2Vec
    gensim: GensimRun
    ours_scores: Scores
    gensim_scores: Scores

    @property
    def speed_ratio(self) -> float:
        """llmcourse's words per second / gensim's (wall clock, same machine, same run)."""
        return self.ours.words_per_second / self.gensim.words_per_second

    @property
    def cpu_ratio(self) -> float:
        """The same ratio per CPU-second: steadier than wall clock on a busy machine."""
        return (self.ours.words_trained / self.ours.cpu_seconds) / (self.gensim.words_trained / self.gensim.cpu_seconds)

    def rows(self) -> list[dict]:
        out = []
        for name, run, scores in (("gensim (C, workers=2)", self.gensim, self.gensim_scores),
                                  ("llmcourse (JAX)", self.ours, self.ours_scores)):
            out.append({"implementation": name, "seconds": run.seconds, "words per second": run.words_per_second,
                        "WordSim-353": scores.wordsim, "SimLex-999": scores.simlex, "analogies": scores.analogy})
        return out

    def markdown(self) -> str:
        """The comparison as a Markdown table (display with ``IPython.display.Markdown``)."""
        lines = ["| implementation | training seconds | words per second | WordSim-353 ρ | SimLex-999 ρ | analogies right |",
                 "|---|---:|---:|---:|---:|---:|"]
        for r in self.rows():
            lines.append(f"| {r['implementation']} | {r['seconds']:.1f} | {r['words per second']:,.0f} | "
                         f"{r['WordSim-353']:.3f} | {r['SimLex-999']:.3f} | {r['analogies']:.1%} |")
        lines.append(f"| llmcourse / gensim | | {self.speed_ratio:.2f}× | "
                     f"{self.ours_scores.wordsim - self.gensim_scores.wordsim:+.3f} | "
                     f"{self.ours_scores.simlex - self.gensim_scores.simlex:+.3f} | |")
        return "\n".join(lines)


def side_by_side(sentences, settings: Word2VecSettings, ours=None, workers: int = 2) -> SideBySide:
    """Train gensim (``workers``) on ``sentences`` with ``settings``, and llmcourse too unless
    ``ours`` (a ``TrainedWord2Vec`` from the same sentences and settings) is given; score both."""
    if ours is None:
        ours = train_word2vec(sentences, settings, progress=False)
    elif ours.settings != settings:
        raise ValueError(f"ours was trained with {ours.settings}, not {settings}")
    theirs = train_gensim(sentences, settings, workers)
    return SideBySide(settings, ours, theirs, evaluate_vectors(ours.to_keyed_vectors()), evaluate_vectors(theirs.wv))
