"""Chapter 7, "Recurrent neural networks": every number or comparison its prose states, asserted on
the values the notebook glued when the test session executed it at the ``cpu`` preset (what the
published book shows), plus replays of the exercise solutions' claims at cpu."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
from flax import nnx

from llmcourse.config import preset
from llmcourse.experiments import recurrent as rec
from llmcourse.models.rnn import CharRNN, parameter_count

pytestmark = pytest.mark.slow

STEM = "07_recurrent_networks"
NOTEBOOK = Path(__file__).resolve().parents[1] / "chapters" / f"{STEM}.ipynb"
KN, ADD_K, BIGRAM = "char n-gram, Kneser–Ney", "char n-gram, add-k", "char bigram (2-gram)"


@pytest.fixture(scope="module")
def g(executed_book):
    """{name: value} of every glue the chapter made, executed once at cpu."""
    return executed_book.glue(STEM)


def _tenths(values) -> np.ndarray:
    """(10,) the means of the ten consecutive tenths of a training curve."""
    return np.array([part.mean() for part in np.array_split(np.asarray(values, dtype=float), 10)])


def _curve(g, name: str, key) -> np.ndarray:
    curves = g[name]
    assert isinstance(curves, dict) and key in curves, f"{name} should be glued as a dict of lists, got {str(curves)[:200]}"
    return np.asarray(curves[key], dtype=float)


# ============================================================================ order, the recurrent step
def test_claim_order_carries_context(g):
    # "Two sentences with opposite meanings get the same bag."
    assert g["same_bag"] is True
    # "whether a closing ) may come next depends on a character more than 40 positions back"
    prose = "\n".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "markdown")
    sentence = "The river (which rises in the hills north of the town"
    assert sentence in " ".join(prose.split())
    assert len(sentence) - sentence.index("(") > 40


def test_claim_scan_agrees_with_the_loop(g):
    # "The scan returns every hidden state ... and it agrees with the loop"
    assert 0 <= g["scan_loop_difference"] < 1e-5


def test_claim_untrained_model_is_close_to_uniform(g):
    # "Untrained, the model needs N bits per character, close to the M bits of guessing uniformly among the V symbols."
    assert g["uniform_bits"] == pytest.approx(math.log2(g["vocab"]))
    assert abs(g["untrained_bits"] - g["uniform_bits"]) < 1.0


def test_claim_same_vocabulary_as_the_ngram_models(g):
    # "So both kinds of model are scored on the same characters with the same vocabulary."
    assert g["ngram_same_vocabulary"] is True
    assert g["ngram_unknown_chars"] == g["unknown_chars"] > 0
    assert g["ngram_validation_chars"] == g["validation_chars"]


# ============================================================================ gradients through time
def test_claim_untrained_gradients_vanish_and_explode(g):
    small_scale, one_scale, large_scale = g["scale_small"], g["scale_one"], g["scale_large"]
    assert small_scale < 1 == one_scale < large_scale
    small, one, large = (_curve(g, "scaled_gradients", s) for s in (small_scale, one_scale, large_scale))
    far = g["far"]
    assert far == min(rec.GRADIENT_DISTANCE, g["grad_len"] - 1) and len(small) == g["grad_len"]
    # "falls by a constant factor per step, a straight line on this scale, until N steps back it is smaller
    # than the smallest number a 32-bit float can hold, and the line ends"
    underflow = g["small_underflow"]
    assert underflow < far and small[underflow] == 0 and np.all(small[underflow:] == 0) and np.all(small[:underflow] > 0)
    steps = np.log(small[1:underflow - 5] / small[:underflow - 6])
    assert steps.max() < 0 and steps.std() < 0.25 * abs(steps.mean())
    # "Even the orthogonal U × 1 loses a factor of N over far steps"
    assert g["one_shrink"] == pytest.approx(one[0] / one[far]) and g["one_shrink"] > 1e6
    # "With U × 3 the gradient far steps back is N times larger than at the last input: it explodes."
    assert g["large_grow"] == pytest.approx(large[far] / large[0]) and g["large_grow"] > 1e3
    assert np.all(np.diff(np.log(large[5:])) > 0)


def test_claim_trained_gradients(g):
    g_rnn, g_lstm = _curve(g, "trained_gradients", "rnn"), _curve(g, "trained_gradients", rec.GATED_CELL)
    far, near, last = g["far"], g["near"], g["last"]
    assert last == len(g_lstm) - 1 and g["rnn_far"] == pytest.approx(g_rnn[far]) and g["lstm_far"] == pytest.approx(g_lstm[far])
    # "both start at about the same size at the last input"
    assert 0.5 < g_rnn[0] / g_lstm[0] < 2
    # "At distance far it is more than N orders of magnitude (powers of ten) below the LSTM's."
    smallest = float(np.finfo(np.float32).smallest_subnormal)
    assert g["far_ratio_orders"] == int(np.floor(np.log10(g_lstm[far] / max(g_rnn[far], smallest))))
    assert g["far_ratio_orders"] >= 3
    # "The LSTM's gradient falls steeply at first, too: near steps back it is already N times smaller"
    assert g["lstm_near_shrink"] == pytest.approx(g_lstm[0] / g_lstm[near]) and g["lstm_near_shrink"] > 10
    # "Then it levels off: from distance far to last it shrinks only by a factor of N"
    assert g["lstm_tail"] == pytest.approx(g_lstm[far] / g_lstm[last]) and g["lstm_tail"] < 10
    # "while the vanilla RNN's keeps falling until it underflows"
    assert g_rnn[last] == 0 or g_rnn[far] / g_rnn[last] > 1e6


# ============================================================================ training and clipping
def test_claim_training_curves(g):
    histories = {"vanilla": g["vanilla_history"], "lstm": g["lstm_history"]}
    for name, h in histories.items():
        bits, evals = _tenths(h["train"]["bits_per_char"]), h["eval"]["bits_per_char"]
        # "both curves fall fast at first and then more slowly"
        assert bits[0] - bits[4] > bits[5] - bits[9] > 0, name
        # "The validation dots lie above the training line"
        assert evals[-1] > bits[-1], name
        assert evals[-1] < evals[0], name
        assert g[f"{name}_curve_end"] == evals[-1]
    # "The LSTM trained for N steps ... and the vanilla RNN, which is cheaper per step, for M steps."
    assert len(histories["lstm"]["steps"]) == g["lstm_steps"] and len(histories["vanilla"]["steps"]) == g["vanilla_steps"]
    assert g["vanilla_steps"] < g["lstm_steps"]
    # "The LSTM ends lower on the validation windows"
    assert g["lstm_curve_end"] < g["vanilla_curve_end"]
    # "it read only N times as many characters as the training text holds"
    assert g["lstm_passes"] == pytest.approx(g["lstm_steps"] * g["batch"] * g["seq_len"] / g["train_chars"])
    assert 0.3 < g["lstm_passes"] < 1.5
    # "Its validation loss was still going down at the last measurement"
    lstm_evals = histories["lstm"]["eval"]["bits_per_char"]
    assert lstm_evals[-1] < lstm_evals[-2]


def test_claim_clipping(g):
    assert g["clip_norm"] == rec.CLIP_NORM
    for name in ("vanilla", "lstm"):
        norms = np.asarray(g[f"{name}_history"]["train"]["grad_norm"])
        first = max(1, len(norms) // 10)
        # "only in the first steps, while the weights are still random, does the gradient norm rise above the
        # threshold; after that both models stay below it"
        assert norms[:first].max() > rec.CLIP_NORM and norms[first:].max() < rec.CLIP_NORM, name
        # "and their gradients shrink as the loss falls"
        assert norms[-first:].mean() < norms[first:2 * first].mean(), name
        # "Clipping shortened N% of the vanilla RNN's steps and M% of the LSTM's" (a few per cent)
        assert g[f"{name}_clipped"] == pytest.approx(np.mean(norms > rec.CLIP_NORM)) and g[f"{name}_clipped"] < 0.1
    # "(to N for the vanilla RNN)"
    assert g["vanilla_largest"] == pytest.approx(max(g["vanilla_history"]["train"]["grad_norm"]))
    assert g["vanilla_largest"] > rec.CLIP_NORM


# ============================================================================ the scoreboard and the mixture
def test_claim_scoreboard(g):
    lstm, vanilla = g["lstm_bpc"], g["rnn_bpc"]
    board = g["scoreboard_bpc"]
    assert board[KN] == g["kn_bpc"] and board[ADD_K] == g["addk_bpc"] and board[BIGRAM] == g["bigram_bpc"]
    # "It beats the bigram and the best add-k n-gram."
    assert lstm < g["addk_bpc"] < g["bigram_bpc"]
    # "The vanilla RNN beats the bigram but not the add-k model."
    assert g["addk_bpc"] < vanilla < g["bigram_bpc"]
    # "The Kneser–Ney n-gram is still N bits ahead of the LSTM"
    assert g["kn_lead"] == pytest.approx(lstm - g["kn_bpc"]) and g["kn_lead"] > 0
    # summary: "the LSTM beat ... the vanilla RNN by a wide margin"
    assert vanilla - lstm > 0.2
    # "The characters never seen in training are expensive for the LSTM ... it pays about N bits for each"
    # (more than a blind guess among the V symbols)
    assert g["unknown_bits_each"] > g["uniform_bits"]
    # "There are so few that they make up only N% of its total."
    assert g["unknown_share"] < 0.001


def test_claim_curve_and_row_read_the_text_differently(g):
    # "The LSTM's row, N, is lower than the last validation point of its training curve, M"
    assert g["lstm_bpc"] < g["lstm_curve_end"]
    # "The curve's points cover only the first N validation characters ... The scoreboard reads all M characters"
    assert g["curve_chars"] < g["validation_chars"]
    # "Read the scoreboard's way, those first N characters cost M bits each: the context carried from window to
    # window is worth K bits per character. The other J bits are the text itself: the start of the validation
    # text is harder to predict than the rest."
    assert g["lstm_context_gain"] == pytest.approx(g["lstm_curve_end"] - g["lstm_curve_chars_bpc"])
    assert g["lstm_text_gain"] == pytest.approx(g["lstm_curve_chars_bpc"] - g["lstm_bpc"])
    assert g["lstm_context_gain"] > 0 and g["lstm_text_gain"] > 0
    # "(The scoreboard below reads the validation text another way and gets lower numbers; it says why.)"
    assert g["rnn_bpc"] < g["vanilla_curve_end"]


def test_claim_mixture(g):
    # the two models alone are the scoreboard's rows
    assert g["mix_kn_bpc"] == pytest.approx(g["kn_bpc"]) and g["mix_lstm_bpc"] == pytest.approx(g["lstm_bpc"])
    # "the LSTM is the better predictor for N% of the characters, although it is worse on average"
    assert g["lstm_better_share"] > 0.2 and g["mix_lstm_bpc"] > g["mix_kn_bpc"]
    # "N bits fewer than the Kneser–Ney model alone, and so better than every model on the scoreboard"
    assert g["mix_gain"] == pytest.approx(g["mix_kn_bpc"] - g["mix_bpc"]) and g["mix_gain"] > 0
    assert g["mix_bpc"] < min(g["scoreboard_bpc"].values())
    # "The weights chosen ... give the LSTM only a small say"
    assert max(g["mix_weight_first"], g["mix_weight_second"]) < 0.5


# ============================================================================ samples, the sequential bottleneck
def test_claim_samples(g):
    assert g["t_low"] < 1 == g["t_mid"] < g["t_high"]
    # "at temperature low the LSTM writes mostly real words ... at mid N% ... and at high only M%"
    assert g["words_low"] > g["words_mid"] > g["words_high"]
    assert g["words_low"] > 0.8


def test_claim_sequential_bottleneck(g):
    # "keeping the number of characters per step fixed at N, split into B sequences of T characters, and so on"
    assert g["timing_batch_short"] * g["timing_short"] == g["timing_batch_long"] * g["timing_long"] == g["chars_per_step"]
    assert g["timing_short"] < g["timing_long"]
    # "the time per step grows with the sequence length although the arithmetic does not": a time on this
    # machine, glued and shown, not asserted (speed is measured by `make bench`, never by a timed test)


# ============================================================================ the exercises' solutions
@pytest.fixture(scope="module")
def cpu_data():
    cfg = preset("cpu")
    return cfg, rec.char_data(cfg)


def test_claim_exercise_scales(g, cpu_data):
    # "Both fall. ... Multiplying by 0.9 makes it fall faster still. With 1.2 ... falls more slowly than with the
    # orthogonal U, but it still falls"
    cfg, data = cpu_data
    far = g["far"]
    more = rec.scaled_rnn_gradients(cfg, data, scales=(0.9, 1.2))
    one = _curve(g, "scaled_gradients", 1.0)
    ratio = {0.9: more[0.9][far] / more[0.9][0], 1.0: one[far] / one[0], 1.2: more[1.2][far] / more[1.2][0]}
    assert ratio[0.9] < ratio[1.0] < ratio[1.2] < 1e-3


def test_claim_exercise_forget_bias(g, cpu_data):
    # "a larger forget bias keeps the gradient alive much longer" (0 < 1 < 3, by orders of magnitude)
    cfg, data = cpu_data
    far, H = g["far"], cfg.rnn.hidden
    windows = rec.gradient_windows(cfg, data)
    at_far = {}
    for bias in (0.0, 1.0, 3.0):  # as the solution does
        model = CharRNN(data.tokenizer.vocab_size, hidden=H, cell="lstm", embed_dim=cfg.rnn.embed, rngs=nnx.Rngs(cfg.seed))
        model.cell.dense_h.bias[H:2 * H] = bias
        at_far[bias] = rec.gradient_by_distance(model, windows)[far]
    assert at_far[0.0] * 1e3 < at_far[1.0] and at_far[1.0] * 1e3 < at_far[3.0]


def test_claim_exercise_forget_gate_arithmetic():
    # "about 0.5 for b = 0, 0.73 for b = 1, 0.95 for b = 3 ... 0.5^50 ≈ 10^-15, 0.73^50 ≈ 10^-7 and 0.95^50 ≈ 0.08"
    sigmoid = lambda b: 1 / (1 + math.exp(-b))  # noqa: E731
    assert sigmoid(0) == 0.5 and round(sigmoid(1), 2) == 0.73 and round(sigmoid(3), 2) == 0.95
    assert round(math.log10(0.5 ** 50)) == -15 and round(math.log10(0.73 ** 50)) == -7
    assert round(0.95 ** 50, 2) == 0.08


def test_claim_exercise_parameter_counts_at_the_chapter_settings(g):
    # "VE + k(EH + H² + H) + HV + V" with k = 1, 3, 4; "the GRU's cell has three times the vanilla cell's
    # parameters and the LSTM's four times"; "the LSTM's 4H² recurrent weights are the largest part"
    cfg = preset("cpu")
    V, E, H = g["vocab"], cfg.rnn.embed, cfg.rnn.hidden
    assert H == g["hidden"]
    vanilla_cell = parameter_count(nnx.eval_shape(lambda: CharRNN(V, hidden=H, cell="rnn", embed_dim=E, rngs=nnx.Rngs(0))).cell)
    for kind, k in (("rnn", 1), ("gru", 3), ("lstm", 4)):
        model = nnx.eval_shape(lambda: CharRNN(V, hidden=H, cell=kind, embed_dim=E, rngs=nnx.Rngs(0)))
        assert parameter_count(model) == V * E + k * (E * H + H * H + H) + H * V + V
        assert parameter_count(model.cell) == k * vanilla_cell
    assert 4 * H * H > max(V * E, 4 * E * H, H * V + V, 4 * H)
