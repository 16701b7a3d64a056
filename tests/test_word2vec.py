"""word2vec (llmcourse.models.word2vec): vocabulary, subsampling, windows, noise, the loss and its
sparse update, training on a corpus with planted structure, export to gensim, bad input."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from llmcourse.experiments.word_embeddings import cosine_similarity, planted_corpus, project_2d, train_word2vec
from llmcourse.models.word2vec import (
    NoiseTable,
    Vocabulary,
    Word2Vec,
    Word2VecData,
    Word2VecError,
    Word2VecSettings,
    cbow_windows,
    negative_sampling_loss,
    sentence_words,
    skipgram_pairs,
    sparse_sgd_update,
    target_weights,
    to_keyed_vectors,
    word2vec_loss,
)
from llmcourse.training import ConfigError, Trainer

SMALL = dict(dims=16, epochs=3, min_count=1, batch_size=256)  # as in the chapter's exercise ex06-planted


# --------------------------------------------------------------------------- text and vocabulary
def test_sentence_words_drop_punctuation_only():
    assert sentence_words("You say \"goodbye\", and I say: hello! It's 1969.") == [
        "you", "say", "goodbye", "and", "i", "say", "hello", "it's", "1969"]


def test_vocabulary_counts_order_and_min_count():
    sentences = [["b", "a", "c", "a"], ["c", "a", "d"], ["b"]]
    vocab = Vocabulary.build(sentences, min_count=2)
    assert vocab.words == ("a", "b", "c")  # most frequent first, ties alphabetical
    assert vocab.counts.tolist() == [3, 2, 2] and len(vocab) == 3
    corpus = vocab.encode(sentences)
    assert corpus.ids.tolist() == [1, 0, 2, 0, 2, 0, 1]  # 'd' (count 1) is removed
    assert corpus.sentence.tolist() == [0, 0, 0, 0, 1, 1, 2]
    assert corpus.raw_words == 8


@pytest.mark.parametrize("sentences", [[], [[]], [[], []]])
def test_empty_corpus_is_a_clear_error(sentences):
    with pytest.raises(Word2VecError, match="corpus is empty"):
        Vocabulary.build(sentences)
    with pytest.raises(Word2VecError, match="corpus is empty"):
        train_word2vec(sentences, Word2VecSettings(**SMALL))


def test_min_count_that_removes_every_word_is_a_clear_error():
    with pytest.raises(Word2VecError, match=r"min_count=5 removes every word: .*'a', occurs 2 times"):
        Vocabulary.build([["a", "b", "a"]], min_count=5)
    with pytest.raises(Word2VecError, match="min_count=50 removes every word"):
        train_word2vec([["a", "b"]] * 10, Word2VecSettings(**{**SMALL, "min_count": 50}))


@pytest.mark.parametrize("window", [0, -1, 1.5, True])
def test_window_below_one_is_a_clear_error(window):
    with pytest.raises(Word2VecError, match="window must be an integer >= 1"):
        Word2VecSettings(window=window)


@pytest.mark.parametrize("change, match", [
    ({"architecture": "glove"}, "unknown architecture 'glove'"),
    ({"negatives": 0}, "negatives must be an integer >= 1"),
    ({"sample": 0}, r"sample must be a number in \(0, 1\)"),
    ({"learning_rate": -0.1}, "learning_rate must be a positive number"),
    ({"min_count": 0}, "min_count must be an integer >= 1"),
])
def test_bad_settings_are_clear_errors(change, match):
    with pytest.raises(Word2VecError, match=match):
        Word2VecSettings(**change)


def test_sentences_must_be_lists_of_words():
    with pytest.raises(TypeError, match="single str"):
        Vocabulary.build("a text, not sentences")
    with pytest.raises(TypeError, match="sentence 0 must be a list of str"):
        Vocabulary.build(["a sentence as a string"])


def test_a_corpus_of_one_word_sentences_gives_no_example():
    vocab = Vocabulary.build([["a"], ["b"]], min_count=1)
    with pytest.raises(Word2VecError, match="no training example"):
        Word2VecData(vocab.encode([["a"], ["b"]]), vocab, Word2VecSettings(**SMALL))


# --------------------------------------------------------------------------- subsampling and noise
def test_keep_probabilities_follow_the_formula():
    vocab = Vocabulary(("a", "b", "c"), np.array([100, 10, 1]), 1)
    t = 10 / 111  # word 'b' has frequency exactly t
    keep = vocab.keep_probabilities(t)
    assert keep[1] == 1.0  # f = t: (1 + 1) t / f = 2, capped at 1
    assert keep[2] == 1.0  # rare words are always kept
    f = 100 / 111
    assert keep[0] == pytest.approx((math.sqrt(f / t) + 1) * t / f)
    # the docstring's example: a word 100 times more frequent than t keeps about 11%
    assert (math.sqrt(100) + 1) / 100 == pytest.approx(0.11)


def test_noise_table_draws_the_three_quarter_power_distribution():
    counts = np.array([1000, 100, 10, 1])
    vocab = Vocabulary(("a", "b", "c", "d"), counts, 1)
    p = vocab.noise_distribution()
    assert p == pytest.approx(counts**0.75 / np.sum(counts**0.75))
    table = NoiseTable(p, size=100_000)
    assert len(table.table) == 100_000
    assert np.bincount(table.table, minlength=4) / 100_000 == pytest.approx(p, abs=1e-4)
    draws = table.sample((200_000,), np.random.default_rng(0))
    assert np.bincount(draws, minlength=4) / 200_000 == pytest.approx(p, abs=0.005)


# --------------------------------------------------------------------------- windows
def _brute_force_pairs(sentence, reach):
    pairs = set()
    for i in range(len(sentence)):
        for j in range(len(sentence)):
            if i != j and abs(i - j) <= reach[i] and sentence[i] == sentence[j]:
                pairs.add((i, j))
    return pairs


@pytest.mark.parametrize("seed", range(5))
def test_skipgram_pairs_match_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    window = int(rng.integers(1, 6))
    sentence = np.sort(rng.integers(0, 6, size=40))
    reach = rng.integers(1, window + 1, size=40)
    centres, contexts = skipgram_pairs(sentence, reach, window)
    got = list(zip(centres.tolist(), contexts.tolist()))
    assert len(got) == len(set(got))
    assert set(got) == _brute_force_pairs(sentence, reach)


def test_cbow_windows_match_the_skipgram_pairs():
    rng = np.random.default_rng(3)
    sentence = np.sort(rng.integers(0, 4, size=30))
    reach = rng.integers(1, 4, size=30)
    context, mask = cbow_windows(sentence, reach, 3)
    assert context.shape == mask.shape == (30, 6)
    got = {(i, int(context[i, k])) for i in range(30) for k in range(6) if mask[i, k]}
    assert got == _brute_force_pairs(sentence, reach)


def test_you_say_goodbye_pairs():
    """The chapter's example: 'and' with a reach of 2 (a window of 2 and no random reach)."""
    sentence_text = "you say goodbye and i say hello".split()
    n = len(sentence_text)
    centres, contexts = skipgram_pairs(np.zeros(n, int), np.full(n, 2), 2)
    of_and = sorted(sentence_text[c] for c, a in zip(contexts, centres) if a == 3)
    assert of_and == ["goodbye", "i", "say", "say"]
    assert len(centres) == 2 * (2 * n - 3)  # 22: every pair at distance 1 or 2, both ways


# --------------------------------------------------------------------------- the data source
def test_data_source_batches_shapes_and_determinism():
    sentences, _ = planted_corpus(sentences=200)
    vocab = Vocabulary.build(sentences, 1)
    corpus = vocab.encode(sentences)
    for architecture, width in (("skip-gram", 1), ("cbow", 10)):
        settings = Word2VecSettings(**{**SMALL, "architecture": architecture})
        a, b = Word2VecData(corpus, vocab, settings), Word2VecData(corpus, vocab, settings)
        batches = a.next_batches(3, 64)
        assert batches["inputs"].shape == (3, 64, width) and batches["inputs"].dtype == np.int32
        assert batches["targets"].shape == (3, 64, 1 + settings.negatives)
        if architecture == "cbow":
            w = batches["input_weights"]
            assert np.allclose(w.sum(-1), 1.0)  # the mean of the context vectors
        again = b.next_batches(3, 64)  # same settings and seed: the same examples and noise
        assert all(np.array_equal(batches[k], again[k]) for k in batches)
        # running past the end of an epoch starts the next one
        many = a.next_batches(1, a.examples_per_epoch)
        assert many["targets"].shape[1] == a.examples_per_epoch and a.epochs_made >= 2


# --------------------------------------------------------------------------- loss and update
def _numpy_loss(h, u, w):
    s = np.einsum("bd,bjd->bj", h, u)
    sign = np.where(np.arange(u.shape[1]) == 0, 1.0, -1.0)
    return -np.sum(w * np.log(1 / (1 + np.exp(-sign * s))), axis=-1)


def test_negative_sampling_loss_and_its_docstring_gradients():
    rng = np.random.default_rng(0)
    h, u = rng.normal(size=(4, 8)), rng.normal(size=(4, 6, 8))
    w = np.ones((4, 6))
    w[2, 3] = 0.0
    loss = jax.jit(negative_sampling_loss)(jnp.asarray(h), jnp.asarray(u), jnp.asarray(w))
    assert np.allclose(loss, _numpy_loss(h, u, w), rtol=1e-5)
    gh, gu = jax.jit(jax.grad(lambda h, u: negative_sampling_loss(h, u, jnp.asarray(w)).sum(), argnums=(0, 1)))(
        jnp.asarray(h), jnp.asarray(u))
    sig = 1 / (1 + np.exp(-np.einsum("bd,bjd->bj", h, u)))
    coef = w * (sig - np.where(np.arange(6) == 0, 1.0, 0.0))  # σ(s_o) − 1 for the target, σ(s_k) for noise
    assert np.allclose(gh, np.einsum("bj,bjd->bd", coef, u), atol=1e-5)
    assert np.allclose(gu, coef[:, :, None] * h[:, None, :], atol=1e-5)


def test_loss_starts_at_one_plus_k_log_two():
    """Output vectors start at zero, so every score is 0 and every term costs log 2."""
    model = Word2Vec(10, 4, rngs=nnx.Rngs(0))
    batch = {"inputs": jnp.array([[1], [2]]), "targets": jnp.array([[3, 4, 5, 6], [7, 8, 9, 0]])}
    loss, _ = nnx.jit(word2vec_loss)(model, batch)
    assert float(loss) == pytest.approx(4 * math.log(2), rel=1e-6)


@pytest.mark.parametrize("cbow", [False, True])
def test_sparse_update_equals_dense_sgd_and_leaves_other_rows_alone(cbow):
    rng = np.random.default_rng(1)
    model = Word2Vec(30, 8, rngs=nnx.Rngs(0))
    model.output_vectors[...] = jnp.asarray(rng.normal(size=(30, 8)) * 0.1, dtype=jnp.float32)
    if cbow:
        inputs = jnp.array([[1, 2, 0], [3, 3, 4], [5, 0, 0]])
        weights = jnp.array([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]])
        batch = {"inputs": inputs, "input_weights": weights}
    else:
        batch = {"inputs": jnp.array([[1], [3], [1]])}  # word 1 twice: its two updates add up
    batch["targets"] = jnp.array([[6, 7, 8], [9, 6, 9], [10, 11, 10]])  # 9 = target: skipped noise
    before_in, before_out = np.array(model.input_vectors[...]), np.array(model.output_vectors[...])
    lr = 0.5

    def summed(tables):
        m = Word2Vec(30, 8, rngs=nnx.Rngs(0))
        m.input_vectors[...], m.output_vectors[...] = tables
        return word2vec_loss(m, batch)[0] * 3

    g_in, g_out = jax.jit(jax.grad(summed))((jnp.asarray(before_in), jnp.asarray(before_out)))
    nnx.jit(sparse_sgd_update)(model, batch, jnp.float32(lr))
    after_in, after_out = np.array(model.input_vectors[...]), np.array(model.output_vectors[...])
    if cbow:  # word2vec gives every context word the whole gradient of h, not its 1/count share
        h = jnp.einsum("bc,bcd->bd", weights, jnp.asarray(before_in)[inputs])
        u = jnp.asarray(before_out)[batch["targets"]]
        grad_h = np.array(jax.jit(jax.grad(lambda h: negative_sampling_loss(h, u, target_weights(batch["targets"])).sum()))(h))
        expected_in = before_in.copy()
        for b in range(3):
            for i, w in zip(np.array(inputs[b]), np.array(weights[b])):
                if w > 0:
                    expected_in[i] -= lr * grad_h[b]
        assert np.allclose(after_in, expected_in, atol=1e-6)
    else:
        assert np.allclose(after_in, before_in - lr * np.array(g_in), atol=1e-6)
    assert np.allclose(after_out, before_out - lr * np.array(g_out), atol=1e-6)
    touched_in = set(np.array(batch["inputs"]).ravel().tolist())
    touched_out = set(np.array(batch["targets"]).ravel().tolist())
    for i in range(30):  # rows no example used are bit-for-bit unchanged
        if i not in touched_in:
            assert np.array_equal(after_in[i], before_in[i])
        if i not in touched_out:
            assert np.array_equal(after_out[i], before_out[i])


def test_engine_update_hook_requires_plain_sgd():
    from llmcourse.experiments.word_embeddings import train_config

    model = Word2Vec(10, 4, rngs=nnx.Rngs(0))
    good = train_config(Word2VecSettings(), steps=10)
    Trainer(model, word2vec_loss, good, update=sparse_sgd_update)
    for change in ({"momentum": 0.9}, {"optimizer": "adam"}, {"clip_norm": 1.0}):
        with pytest.raises(ConfigError, match="plain SGD"):
            Trainer(model, word2vec_loss, dataclasses.replace(good, **change), update=sparse_sgd_update)


# --------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def planted():
    sentences, group = planted_corpus()
    runs = {a: train_word2vec(sentences, Word2VecSettings(architecture=a, **SMALL), progress=False)
            for a in ("skip-gram", "cbow")}
    return sentences, group, runs


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["skip-gram", "cbow"])
def test_loss_falls(planted, architecture):
    losses = planted[2][architecture].history.losses
    assert losses[0] == pytest.approx(6 * math.log(2), abs=0.2)
    assert losses[-20:].mean() < 0.7 * losses[:5].mean()
    lr = planted[2][architecture].history.train["learning_rate"]
    assert lr[0] == pytest.approx(0.025) and lr[-1] < 0.025 / 20  # linear decay towards 0


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["skip-gram", "cbow"])
def test_embeddings_recover_the_planted_groups(planted, architecture):
    _, group, runs = planted
    kv = runs[architecture].to_keyed_vectors()
    words = [w for w in kv.index_to_key if group[w] >= 0]
    assert len(words) == 24
    nearest_in_group = [group[kv.most_similar(w, topn=1)[0][0]] == group[w] for w in words]
    assert all(nearest_in_group)
    same = [kv.similarity(a, b) for a in words for b in words if a < b and group[a] == group[b]]
    other = [kv.similarity(a, b) for a in words for b in words if group[a] != group[b]]
    assert min(same) > max(other)  # every within-group pair beats every across-group pair


def test_to_keyed_vectors_is_exact():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 7)).astype(np.float32)
    words = [f"w{i}" for i in range(50)]
    kv = to_keyed_vectors(vectors, words, counts=np.arange(50, 0, -1))
    assert kv.index_to_key == words and kv.vectors.dtype == np.float32
    assert np.array_equal(kv.vectors, vectors) and np.array_equal(kv["w7"], vectors[7])
    assert kv.get_vecattr("w0", "count") == 50
    assert kv.most_similar("w3", topn=1)[0][0] != "w3"


@pytest.mark.slow
def test_export_to_gensim_keeps_vectors_exactly(planted):
    run = planted[2]["skip-gram"]
    kv = run.to_keyed_vectors()
    assert kv.index_to_key == list(run.vocab.words)
    assert kv.vectors.dtype == np.float32
    assert np.array_equal(kv.vectors, run.vectors)  # bit for bit
    for i in (0, 5, len(run.vocab) - 1):
        assert np.array_equal(kv[run.vocab.words[i]], run.vectors[i])
        assert kv.get_vecattr(run.vocab.words[i], "count") == run.vocab.counts[i]
    a, b = run.vocab.words[:2]
    assert kv.similarity(a, b) == pytest.approx(cosine_similarity(run.vectors[0], run.vectors[1]), abs=1e-6)


def test_to_keyed_vectors_rejects_mismatched_input():
    with pytest.raises(Word2VecError, match="one row per word"):
        to_keyed_vectors(np.zeros((3, 2)), ["a", "b"])
    with pytest.raises(Word2VecError, match="unique"):
        to_keyed_vectors(np.zeros((2, 2)), ["a", "a"])


@pytest.mark.slow
def test_same_seed_same_vectors(planted):
    sentences = planted[0][:300]
    settings = Word2VecSettings(**{**SMALL, "epochs": 1})
    a = train_word2vec(sentences, settings, progress=False)
    b = train_word2vec(sentences, settings, progress=False)
    assert np.array_equal(a.vectors, b.vectors)
    c = train_word2vec(sentences, settings.replace(seed=1), progress=False)
    assert not np.array_equal(a.vectors, c.vectors)


@pytest.mark.slow
def test_steps_cover_the_epochs(planted):
    run = planted[2]["skip-gram"]
    assert run.steps % run.settings.steps_per_call == 0 or run.steps < run.settings.steps_per_call
    examples = run.steps * run.settings.batch_size
    assert examples == pytest.approx(run.settings.epochs * run.examples_per_epoch, rel=0.1)
    assert run.words_trained == sum(map(len, planted[0])) * run.settings.epochs
    assert run.words_per_second > 0


def test_project_2d():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 5))
    p = project_2d(x)
    assert p.shape == (10, 2) and np.allclose(p.mean(0), 0)
    assert np.allclose(project_2d(x * rng.uniform(0.5, 5, size=(10, 1))), p)  # directions only
    spread = p.var(0)
    assert spread[0] >= spread[1]  # the first direction is the one along which the points vary most
    with pytest.raises(ValueError, match="at least 2 vectors"):
        project_2d(x[:1])
