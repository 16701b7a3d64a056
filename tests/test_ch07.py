"""Chapter 7, "Recurrent neural networks": the exercise checkers, the notebook's form and the mixing
of two models. The prose's claims are asserted on the executed notebook in ``test_claims_ch07.py``."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import optax
import pytest

from conftest import glue_names
from llmcourse.config import preset
from llmcourse.exercises import ch07
from llmcourse.experiments import recurrent as rec
from llmcourse.notebook import setup_cell_source

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
