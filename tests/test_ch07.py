"""Chapter 7, "Recurrent neural networks": the exercise checkers, the notebook's form, and every
number or comparison its prose states (claims), at the ``cpu`` preset and the notebook's seed."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import optax
import pytest
from flax import nnx

from conftest import glue_names
from llmcourse.config import preset
from llmcourse.exercises import ch07
from llmcourse.experiments import recurrent as rec
from llmcourse.experiments.language_models import known_word_share, training_words
from llmcourse.data import TokenWindows
from llmcourse.models.rnn import CharRNN, char_lm_loss, parameter_count
from llmcourse.notebook import setup_cell_source
from llmcourse.tokenizers import words

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "chapters" / "07_recurrent_networks.ipynb"


def _notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def _prose() -> str:
    return "\n".join(c.source for c in _notebook().cells if c.cell_type == "markdown")


def _code() -> str:
    return "\n".join(c.source for c in _notebook().cells if c.cell_type == "code")


# ============================================================================ checkers
def right_step(x, h, W, U, b):
    return np.tanh(x @ W + h @ U + b)


def test_rnn_step_checker_passes_a_right_answer():
    result = ch07.check_rnn_step(right_step)
    assert result.passed, result.message
    assert "6 cases" in result.message


@pytest.mark.parametrize("wrong, message", [
    (lambda x, h, W, U, b: x @ W + h @ U + b, "apply np.tanh"),
    (lambda x, h, W, U, b: np.tanh(x @ W + b), "recurrent term is missing"),
    (lambda x, h, W, U, b: np.tanh(x @ W + h @ U), "bias b is missing"),
    (lambda x, h, W, U, b: np.tanh(x @ W + h @ U) + b, "after the tanh"),
    (lambda x, h, W, U, b: np.maximum(x @ W + h @ U + b, 0), "ReLU"),
    (lambda x, h, W, U, b: 1 / (1 + np.exp(-(x @ W + h @ U + b))), "sigmoid"),
    (lambda x, h, W, U, b: np.tanh(x @ W + h @ U.T + b), "transposed"),
    (lambda x, h, W, U, b: None, "returned None"),
    (lambda x, h, W, U, b: (right_step(x, h, W, U, b),) * 2, "returned a tuple"),
    (lambda x, h, W, U, b: right_step(x, h, W, U, b)[0], "shape"),
    (lambda x, h, W, U, b: right_step(x, h, W, U, b) * 1.01, "should be"),
    (lambda x, h, W, U, b: 1 / 0, "ZeroDivisionError"),
    (lambda x, h: x, "TypeError"),
])
def test_rnn_step_checker_explains_mistakes(wrong, message):
    result = ch07.check_rnn_step(wrong)
    assert not result.passed
    assert message in result.message, result.message


def test_rnn_step_checker_handles_the_stub():
    def stub(x, h, W, U, b):
        raise NotImplementedError

    result = ch07.check_rnn_step(stub)
    assert not result.passed and "NotImplementedError" in result.message
    assert str(result).startswith("❌")


def test_rnn_step_reference_is_the_package_cell():
    rng = np.random.default_rng(0)
    x, h, W, U, b = (rng.normal(size=s).astype(np.float32) for s in ((2, 3), (2, 4), (3, 4), (4, 4), (4,)))
    np.testing.assert_allclose(ch07.reference_rnn_step(x, h, W, U, b), right_step(x, h, W, U, b), rtol=1e-5, atol=1e-6)


def right_clip(grads, max_norm):
    norm = np.sqrt(sum(np.sum(np.square(g)) for g in grads))
    return [g * min(1.0, max_norm / norm) for g in grads]


def test_clipping_checker_passes_a_right_answer():
    result = ch07.check_clip_by_global_norm(right_clip)
    assert result.passed, result.message


@pytest.mark.parametrize("wrong, message", [
    (lambda g, m: [a * min(1.0, m / np.linalg.norm(a)) for a in g], "each array by its own norm"),
    (lambda g, m: [np.clip(a, -m, m) for a in g], "clipping by value"),
    (lambda g, m: g, "nothing was clipped"),
    (lambda g, m: [a * m / np.sqrt(sum(np.sum(b * b) for b in g)) for a in g], "only ever shrinks"),
    (lambda g, m: right_clip(g, m)[:1], "arrays for"),
    (lambda g, m: [a.ravel() for a in right_clip(g, m)], "keep its shape"),
    (lambda g, m: None, "returned None"),
    (lambda g, m: [a * 0.5 for a in g], "expected them scaled by"),
])
def test_clipping_checker_explains_mistakes(wrong, message):
    result = ch07.check_clip_by_global_norm(wrong)
    assert not result.passed
    assert message in result.message, result.message


def test_clipping_reference_is_what_training_uses():
    config = rec.train_config(preset("tiny"), 10, 1e-2)
    assert config.clip_norm == rec.CLIP_NORM
    grads = [np.full(3, 2.0, np.float32), np.full(2, 1.0, np.float32)]
    clipped, _ = optax.clip_by_global_norm(rec.CLIP_NORM).update(grads, optax.EmptyState())
    for got, expected in zip(clipped, right_clip(grads, rec.CLIP_NORM)):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


# ============================================================================ the notebook's form
def test_notebook_form():
    nb = _notebook()
    assert nb.cells[0].source == setup_cell_source()
    assert nb.cells[1].source.startswith("# Recurrent neural networks")
    prose = _prose()
    for term in ("순환 신경망", "은닉 상태", "시간에 따른 역전파", "기울기 소실/폭주", "그래디언트 클리핑"):
        assert term in prose, term
    flat = " ".join(prose.split())
    assert "I want to eat an apple" in flat and "Apple released a phone" in flat
    labels = re.findall(r":label: (ex07-[a-z-]+)", prose)
    assert len(labels) >= 3 and len(set(labels)) == len(labels)
    for label in labels:
        assert f"{{solution}} {label}" in prose
    assert "ch07.check_rnn_step(rnn_step)" in _code() and "ch07.check_clip_by_global_norm" in _code()
    for cited in ("elman1990finding", "hochreiter1997long", "bengio1994learning", "pascanu2013difficulty",
                  "cho2014learning"):
        assert cited in prose


def test_every_glued_name_in_the_prose_is_glued_by_the_code():
    used, glued = glue_names(_notebook())
    assert used and used <= glued, sorted(used - glued)


def test_notebook_runs_the_experiments_the_claims_test():
    code = _code()
    for call in (
        "data = rec.char_data(cfg)",
        "models = rec.train_chapter_models(cfg, data)",
        "scaled = rec.scaled_rnn_gradients(cfg, data, scales)",
        "scales = rec.RECURRENT_SCALES",
        "gradient_windows = rec.gradient_windows(cfg, data)",
        "rec.gradient_by_distance(r.model, gradient_windows)",
        "far = min(rec.GRADIENT_DISTANCE, cfg.rnn.gradient_len - 1)",
        "near = min(20, cfg.rnn.gradient_len - 1)",
        "scores = {k: rec.score(r.model, data) for k, r in models.items()}",
        "samples = rec.samples(lstm.model, data.tokenizer, cfg.lm.sample_chars, seed=cfg.seed)",
        "vocabulary = training_words(data.tokenizer.decode(data.train_ids))",
        "TokenWindows(data.train_ids, seq_len=40, seed=cfg.seed).next_batch(2)",
        'model = CharRNN(V, hidden=cfg.rnn.hidden, cell="rnn", embed_dim=cfg.rnn.embed, rngs=nnx.Rngs(cfg.seed))',
        "rows = [r for r in scoreboard.rows(cfg) if r.chapter <= 7]",
        "sweep = language_models.ngram_sweep(cfg)",
        "ngram = rec.ngram_rows(cfg, sweep)",
        "mixture = rec.mix(scores[rec.GATED_CELL].log_probs, rec.kneser_ney_log_probs(sweep, data))",
    ):
        assert call in code, call


def test_claim_order_carries_context():
    first, second = "the dog bit the man", "the man bit the dog"
    assert first in _code() and second in _code()
    assert Counter(words(first)) == Counter(words(second))
    sentence = "The river (which rises in the hills north of the town"
    assert sentence in _prose()
    assert len(sentence) - sentence.index("(") > 40  # "a character more than 40 positions back"


def test_claim_exercise_parameter_counts_at_the_chapter_settings():
    cfg = preset("cpu")
    V, E, H = 327, cfg.rnn.embed, cfg.rnn.hidden
    for kind, k in (("rnn", 1), ("gru", 3), ("lstm", 4)):
        model = nnx.eval_shape(lambda: CharRNN(V, hidden=H, cell=kind, embed_dim=E, rngs=nnx.Rngs(0)))
        assert parameter_count(model) == V * E + k * (E * H + H * H + H) + H * V + V
        assert parameter_count(model.cell) == k * parameter_count(
            nnx.eval_shape(lambda: CharRNN(V, hidden=H, cell="rnn", embed_dim=E, rngs=nnx.Rngs(0))).cell)
    assert 4 * H * H > max(V * E, 4 * E * H, H * V + V, 4 * H)  # "the 4H² recurrent weights are the largest part"


def test_claim_exercise_forget_gate_arithmetic():
    sigmoid = lambda b: 1 / (1 + math.exp(-b))  # noqa: E731
    assert sigmoid(0) == 0.5 and round(sigmoid(1), 2) == 0.73 and round(sigmoid(3), 2) == 0.95
    assert round(math.log10(0.5 ** 50)) == -15 and round(math.log10(0.73 ** 50)) == -7
    assert round(0.95 ** 50, 2) == 0.08


# ============================================================================ claims (cpu preset)
@pytest.fixture(scope="module")
def cpu(chapter7_cpu):
    """The notebook's experiments at the cpu preset (``chapter7_cpu`` in conftest.py: chapter 8's
    claims compare with the same trained models)."""
    return chapter7_cpu


@pytest.mark.slow
def test_claim_same_vocabulary_as_the_ngram_models(cpu):
    data, sweep = cpu["data"], cpu["sweep"]
    assert data.tokenizer.chars == sweep.model.tokenizer.chars  # the same V symbols, <unk> included
    assert data.unknown_chars == sweep.unknown_chars > 0
    assert len(data.validation_ids) == sweep.validation_chars


@pytest.mark.slow
def test_claim_untrained_model_is_close_to_uniform():
    cfg = preset("cpu")
    data = rec.char_data(cfg)
    V = data.tokenizer.vocab_size
    windows = TokenWindows(data.train_ids, seq_len=40, seed=cfg.seed).next_batch(2)
    model = CharRNN(V, hidden=cfg.rnn.hidden, cell="rnn", embed_dim=cfg.rnn.embed, rngs=nnx.Rngs(cfg.seed))
    bits = float(char_lm_loss(model, windows)[1]["bits_per_char"])
    assert abs(bits - math.log2(V)) < 1.0


@pytest.mark.slow
def test_claim_untrained_gradients_vanish_and_explode(cpu):
    small, one, large = (cpu["scaled"][s] for s in rec.RECURRENT_SCALES)
    far = cpu["far"]
    assert rec.RECURRENT_SCALES[0] < 1 == rec.RECURRENT_SCALES[1] < rec.RECURRENT_SCALES[2]
    # U x small: a straight line on the log scale (constant factor per step) until it underflows
    underflow = np.flatnonzero(small == 0)
    assert len(underflow) and underflow[0] < far and np.all(small[underflow[0]:] == 0)
    steps = np.log(small[1:underflow[0] - 5] / small[:underflow[0] - 6])
    assert steps.max() < 0 and steps.std() < 0.25 * abs(steps.mean())
    assert one[0] / one[far] > 1e6  # even the orthogonal U loses many orders of magnitude
    assert large[far] / large[0] > 1e3  # U x large: explodes
    assert np.all(np.diff(np.log(large[5:])) > 0)


@pytest.mark.slow
def test_claim_training_curves(cpu):
    cfg, data = cpu["cfg"], cpu["data"]
    vanilla, lstm = cpu["models"]["rnn"], cpu["models"][rec.GATED_CELL]
    for result in (vanilla, lstm):
        bits = np.asarray(result.history.train["bits_per_char"])
        half = len(bits) // 2
        tenth = len(bits) // 10
        assert bits[:tenth].mean() - bits[half - tenth:half].mean() > bits[half:half + tenth].mean() - bits[-tenth:].mean()
        assert result.history.eval["bits_per_char"][-1] > bits[-tenth:].mean()  # validation above training
        assert result.history.eval["bits_per_char"][-1] < result.history.eval["bits_per_char"][0]
    assert len(lstm.history.steps) == cfg.rnn.steps and len(vanilla.history.steps) == cfg.rnn.vanilla_steps
    assert cfg.rnn.vanilla_steps < cfg.rnn.steps
    assert lstm.history.eval["bits_per_char"][-1] < vanilla.history.eval["bits_per_char"][-1]
    passes = cfg.rnn.steps * cfg.rnn.batch * cfg.rnn.seq_len / len(data.train_ids)
    assert 0.3 < passes < 1.5  # "read only N times as many characters as the training text holds"
    assert lstm.history.eval["bits_per_char"][-1] < lstm.history.eval["bits_per_char"][-2]  # still going down


@pytest.mark.slow
def test_claim_clipping(cpu):
    for result in cpu["models"].values():
        norms = np.asarray(result.history.train["grad_norm"])
        first = max(1, len(norms) // 10)
        assert norms[:first].max() > rec.CLIP_NORM  # above the threshold only in the first steps ...
        assert norms[first:].max() < rec.CLIP_NORM  # ... and below it after that
        assert norms[-first:].mean() < norms[first:2 * first].mean()  # the gradients shrink
        assert np.mean(norms > rec.CLIP_NORM) < 0.1  # a few per cent of the steps


@pytest.mark.slow
def test_claim_trained_gradients(cpu):
    g_rnn, g_lstm, far = cpu["trained_gradients"]["rnn"], cpu["trained_gradients"][rec.GATED_CELL], cpu["far"]
    assert 0.5 < g_rnn[0] / g_lstm[0] < 2  # about the same size at the last input
    smallest = float(np.finfo(np.float32).smallest_subnormal)
    orders = int(np.floor(np.log10(g_lstm[far] / max(g_rnn[far], smallest))))
    assert orders >= 3  # "more than N orders of magnitude below the LSTM's"
    near = 20
    assert g_lstm[0] / g_lstm[near] > 10  # the LSTM's falls steeply at first ...
    assert g_lstm[far] / g_lstm[-1] < 10  # ... then levels off
    assert g_rnn[-1] == 0 or g_rnn[far] / g_rnn[-1] > 1e6  # the vanilla RNN's keeps falling


@pytest.mark.slow
def test_claim_scoreboard(cpu):
    lstm, vanilla = cpu["scores"][rec.GATED_CELL].bits_per_char, cpu["scores"]["rnn"].bits_per_char
    ngram = cpu["ngram"]
    kneser_ney, add_k, bigram = ngram["char n-gram, Kneser–Ney"], ngram["char n-gram, add-k"], ngram["char bigram (2-gram)"]
    assert lstm < add_k < bigram  # the LSTM beats the add-k n-gram and the bigram
    assert add_k < vanilla < bigram  # the vanilla RNN beats the bigram but not add-k
    assert kneser_ney < lstm  # Kneser–Ney still leads at this budget
    assert vanilla - lstm > 0.2  # "the vanilla RNN by a wide margin"
    scored = cpu["scores"][rec.GATED_CELL]
    unknown = cpu["data"].unknown_chars
    assert scored.unknown_bits / unknown > 10  # "expensive": many bits for each unseen character
    assert scored.unknown_bits / (lstm * len(cpu["data"].validation_ids)) < 0.001  # a tiny share of the total


@pytest.mark.slow
def test_claim_samples(cpu):
    data, samples = cpu["data"], cpu["samples"]
    low, mid, high = rec.TEMPERATURES
    assert low < 1 == mid < high
    vocabulary = training_words(data.tokenizer.decode(data.train_ids))
    share = {t: known_word_share(text, vocabulary) for t, text in samples.items()}
    assert share[low] > share[mid] > share[high]
    assert share[low] > 0.8  # "mostly real words"
    assert all(text.startswith(rec.PROMPT) and len(text) == len(rec.PROMPT) + cpu["cfg"].lm.sample_chars
               for text in samples.values())


@pytest.mark.slow
def test_claim_exercise_scales(cpu):
    cfg, data, far = cpu["cfg"], cpu["data"], cpu["far"]
    more = rec.scaled_rnn_gradients(cfg, data, scales=(0.9, 1.2))
    one = cpu["scaled"][1.0]
    ratio = {0.9: more[0.9][far] / more[0.9][0], 1.0: one[far] / one[0], 1.2: more[1.2][far] / more[1.2][0]}
    assert ratio[0.9] < ratio[1.0] < ratio[1.2] < 1e-3  # 0.9 falls faster, 1.2 more slowly, both fall


@pytest.mark.slow
def test_claim_exercise_forget_bias(cpu):
    cfg, data, far = cpu["cfg"], cpu["data"], cpu["far"]
    H, V = cfg.rnn.hidden, data.tokenizer.vocab_size
    at_far = {}
    model = CharRNN(V, hidden=H, cell="lstm", embed_dim=cfg.rnn.embed, rngs=nnx.Rngs(cfg.seed))
    for bias in (0.0, 1.0, 3.0):  # as the solution does, with one model whose forget biases are reset
        model.cell.dense_h.bias[H:2 * H] = bias
        at_far[bias] = rec.gradient_by_distance(model, rec.gradient_windows(cfg, data))[far]
    assert at_far[0.0] * 1e3 < at_far[1.0] and at_far[1.0] * 1e3 < at_far[3.0]


@pytest.mark.slow
def test_claim_mixture(cpu):
    mixture, ngram = cpu["mixture"], cpu["ngram"]
    lstm = cpu["scores"][rec.GATED_CELL].bits_per_char
    assert mixture.ngram_bits == pytest.approx(ngram["char n-gram, Kneser–Ney"])  # the scoreboard's row
    assert mixture.rnn_bits == pytest.approx(lstm)
    assert mixture.ngram_bits < mixture.rnn_bits  # "worse on average"
    assert mixture.rnn_better_share > 0.2  # "the better predictor for N% of the characters"
    assert mixture.bits_per_char < min(ngram.values())  # "better than every model on the scoreboard"
    assert max(mixture.weights) < 0.5  # "only a small say"


# ============================================================================ mixing two models
def test_mixing_a_model_with_itself_changes_nothing():
    lp = np.log(np.random.default_rng(0).uniform(0.01, 1, size=101))
    mixture = rec.mix(lp, lp)
    assert mixture.bits_per_char == pytest.approx(mixture.rnn_bits) == pytest.approx(mixture.ngram_bits)
    assert mixture.rnn_better_share == 0


def test_each_half_is_scored_with_the_weight_chosen_on_the_other():
    # first half: model a is right (prob 0.9 vs 0.1); second half: model b is right
    a = np.log(np.r_[np.full(50, 0.9), np.full(50, 0.1)])
    b = np.log(np.r_[np.full(50, 0.1), np.full(50, 0.9)])
    mixture = rec.mix(a, b, weights=(0.1, 0.5, 0.9))
    # the first half gets the weight that is best on the second half (0.1: trust b), and vice versa
    assert mixture.weights == (0.1, 0.9)
    expected = -np.log2(0.1 * 0.9 + 0.9 * 0.1)
    assert mixture.bits_per_char == pytest.approx(expected)
    assert mixture.rnn_better_share == 0.5


@pytest.mark.parametrize("a, b, weights, message", [
    (np.zeros(5), np.zeros(4), rec.MIX_WEIGHTS, "same length"),
    (np.zeros(1), np.zeros(1), rec.MIX_WEIGHTS, "same length >= 2"),
    (np.zeros(5), np.zeros(5), (0.0, 0.5), "strictly between 0 and 1"),
    (np.zeros(5), np.zeros(5), (0.5, 1.0), "strictly between 0 and 1"),
    (np.zeros(5), np.zeros(5), (), "strictly between 0 and 1"),
])
def test_mixing_bad_input_is_a_clear_error(a, b, weights, message):
    with pytest.raises(ValueError, match=message):
        rec.mix(a, b, weights)
