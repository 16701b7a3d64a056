"""Chapter 8, "Attention and the transformer": the exercise checker, the notebook's form, and every
number or comparison its prose states (claims), at the ``cpu`` preset and the notebook's seed."""

from __future__ import annotations

import re
from pathlib import Path

import jax.numpy as jnp
import nbformat
import numpy as np
import pytest

from conftest import glue_names
from llmcourse.config import preset
from llmcourse.exercises import ch08
from llmcourse.experiments import transformer as tx
from llmcourse.models.transformer import attention, causal_mask, flops_per_token

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "chapters" / "08_attention_transformer.ipynb"


# ============================================================================ the checker
def _correct(q, k, v):
    d, t = q.shape[-1], q.shape[-2]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    w = np.exp(s)
    return (w / w.sum(-1, keepdims=True)) @ v


def _variant(q, k, v, scale=None, mask="lower", axis=-1, stable=True, after=False):
    d, t = q.shape[-1], q.shape[-2]
    s = q @ np.swapaxes(k, -1, -2) / (np.sqrt(d) if scale is None else scale(d))
    allowed = {"lower": np.tril, "upper": np.triu}[mask](np.ones((t, t), bool)) if mask else None
    if allowed is not None and not after:
        s = np.where(allowed, s, -np.inf)
    if stable:
        s = s - s.max(axis, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):  # the unstable variant overflows on purpose
        w = np.exp(s)
        w = w / w.sum(axis, keepdims=True)
    if allowed is not None and after:
        w = np.where(allowed, w, 0.0)
    return w @ v


def test_checker_passes_correct_answers():
    assert ch08.check_causal_attention(_correct)
    assert ch08.check_causal_attention(lambda q, k, v: np.asarray(attention(jnp.asarray(q, jnp.float32), jnp.asarray(k, jnp.float32),
                                                                            jnp.asarray(v, jnp.float32), causal_mask(q.shape[-2]))[0]))


@pytest.mark.parametrize("answer, message", [
    (lambda q, k, v: _variant(q, k, v, mask=None), "apply the causal mask"),
    (lambda q, k, v: _variant(q, k, v, mask="upper"), "wrong way round"),
    (lambda q, k, v: _variant(q, k, v, scale=lambda d: 1.0), "divide the scores by sqrt(d)"),
    (lambda q, k, v: _variant(q, k, v, scale=lambda d: d), "not by d"),
    (lambda q, k, v: _variant(q, k, v, after=True), "*before* the softmax"),
    (lambda q, k, v: _variant(q, k, v, stable=False), "exp() overflows"),
    (lambda q, k, v: _correct(q, k, v)[..., :-1], "must have shape"),
    (lambda q, k, v: (_correct(q, k, v), None), "not a tuple"),
    (lambda q, k, v: None, "returned None"),
    (lambda q, k, v: 1 / 0, "ZeroDivisionError"),
    (lambda q, k, v: _correct(q, k, v) + 0.1, "differ from causal attention"),
])
def test_checker_explains_mistakes(answer, message):
    result = ch08.check_causal_attention(answer)
    assert not result and message in result.message, result.message


def test_checker_softmax_over_the_wrong_axis():
    result = ch08.check_causal_attention(lambda q, k, v: np.nan_to_num(_variant(q, k, v, axis=-2, stable=False)))
    assert not result


def test_checker_on_the_untouched_stub():
    def stub(q, k, v):
        raise NotImplementedError

    result = ch08.check_causal_attention(stub)
    assert not result and "write its body" in result.message
    assert not ch08.check_causal_attention("not a function")
    assert "returned None" in ch08.check_causal_attention(lambda q, k, v: None).message  # the notebook's stub


# ============================================================================ the notebook's form
def _notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_form():
    """What is particular to this chapter; the setup cell, empty outputs and the exercise anatomy
    are checked for every chapter by test_notebooks.py."""
    nb = _notebook()
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for term in ("어텐션", "쿼리/키/값", "셀프 어텐션", "멀티헤드", "위치 인코딩", "KV 캐시"):
        assert term in text, term
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"[\uac00-\ud7a3]", code), "no Hangul in figures: matplotlib has no font for it"
    bib = (ROOT / "references.bib").read_text()
    for citation in ("vaswani2017attention", "bahdanau2015neural", "radford2019language", "kaplan2020scaling",
                     "pope2023efficiently"):
        assert citation in text and f"{{{citation}," in bib, citation
    for shown in ("show_source(attention)", "show_source(MultiHeadAttention.__call__)", "show_source(Block.__call__)",
                  "show_source(MultiHeadAttention.decode)"):
        assert shown in code
    assert "ch08.check_causal_attention(causal_attention)" in code


def test_every_glued_name_in_the_prose_is_glued_by_the_code():
    used, glued = glue_names(_notebook())
    assert used and used <= glued, sorted(used - glued)


def test_no_number_typed_into_the_prose_that_the_preset_changes():
    """Numbers in the prose come from glue; the few typed ones are facts that no preset changes."""
    nb = _notebook()
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    text = re.sub(r"```python\n.*?\n```", "", text, flags=re.S)  # code in solutions
    text = re.sub(r"\{glue:text\}`[^`]*`|\{cite\}`[^`]*`|\{doc\}`[^`]*`|\$[^$]*\$|:label: \S+|ex08-\S+", "", text)
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code (an exercise's `dropout=0.1`)
    typed = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text))
    allowed = {"1", "2", "4", "5", "7", "8", "150", "200", "512", "64", "72", "12", "768", "1024", "0", "3", "10000",
               "1.5", "0.5", "4.5", "2017", "2019",
               "100", "000"}  # "the first 100,000 characters of the training text" (an exercise's choice)
    assert typed <= allowed, sorted(typed - allowed)


def test_notebook_runs_the_experiments_the_claims_test():
    code = "\n".join(c.source for c in _notebook().cells if c.cell_type == "code")
    for call in (
        "tx.token_data(cfg)", "tx.qkv_example()", "tx.train_gpt(cfg, data)", "tx.scoreboard_rows(cfg)",
        "tx.score(model, data)", "tx.record(cfg, trained, scored, data.tokenizer.vocab_size)",
        "tx.heatmap_sentence(data.validation_text)", "tx.attention_maps(model, data.tokenizer, sentence)",
        "tx.step_times(cfg, data.tokenizer.vocab_size)", "tx.attention_memory(cfg)",
        "n_new = cfg.gpt.context - len(prompt)", "tx.cache_timing(model, prompt, n_new)",
        "sample_tokens = 4 * cfg.gpt.context", "tx.samples(model, data.tokenizer, sample_tokens, seed=cfg.seed)",
    ):
        assert call in code, call


# ============================================================================ claims: attention by hand
def test_claim_qkv_example():
    ex = tx.qkv_example()
    w = dict(zip(ex.words, ex.weights))
    assert w["the"][0] == pytest.approx(1.0)  # "the" sees only itself
    assert ex.scores[1, 0] == ex.scores[2, 1] == ex.scores[3, 2] > 0  # each match scores the same
    assert w["cat"][0] > 0.5 and np.argmax(w["cat"]) == 0  # cat -> the
    assert np.argmax(w["sat"]) == 1 and w["sat"][0] == pytest.approx(w["sat"][2])  # sat -> cat, the others equal
    assert np.argmax(w["down"]) == 2  # down -> sat
    assert np.argmax(ex.outputs[2]) == ex.features.index("noun")  # the output at "sat" is mostly "noun"
    assert np.all(ex.outputs[:3, 3] == 0)  # nothing about "down" reaches the earlier rows
    np.testing.assert_allclose(ex.weights.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(ex.outputs, ex.weights @ ex.v, atol=1e-6)


def test_claim_kv_cache_exercise_numbers():
    gpt2 = 2 * 12 * 1024 * 768 * 4  # bytes of GPT-2 small's float32 cache for one sequence
    assert gpt2 / 2**20 == 72 and 64 * gpt2 / 2**30 == 4.5
    assert 124e6 * 4 / 1e9 == pytest.approx(0.5, abs=0.01)  # its 124 M weights: about 0.5 GB


# ============================================================================ claims (cpu preset)
@pytest.fixture(scope="module")
def cpu(chapter7_cpu):
    """The notebook's experiments at the cpu preset and its seed, run once for all claims. The other
    chapters' rows are those of chapter 7's claims (``chapter7_cpu``): the same functions, preset
    and seed as the notebook's ``tx.scoreboard_rows``."""
    cfg = preset("cpu")
    data = tx.token_data(cfg)
    trained = tx.train_gpt(cfg, data)
    scored = tx.score(trained.model, data)
    sentence = tx.heatmap_sentence(data.validation_text)
    prompt = data.tokenizer.encode(tx.PROMPT)
    n_new = cfg.gpt.context - len(prompt)
    return {
        "cfg": cfg, "data": data, "trained": trained, "scored": scored,
        "rnn": chapter7_cpu["scores"]["lstm"].bits_per_char, "ngram": chapter7_cpu["ngram"],
        "sentence": sentence, "weights": tx.attention_maps(trained.model, data.tokenizer, sentence),
        "times": tx.step_times(cfg, data.tokenizer.vocab_size, repeats=1), "memory": tx.attention_memory(cfg),
        "cache": tx.cache_timing(trained.model, prompt, n_new),
        "samples": tx.samples(trained.model, data.tokenizer, 4 * cfg.gpt.context, seed=cfg.seed),
    }


@pytest.mark.slow
def test_claim_training_curve(cpu):
    bits = np.asarray(cpu["trained"].history.train["bits_per_token"])
    tenth = len(bits) // 10
    first, second, last = bits[:tenth].mean(), bits[tenth:2 * tenth].mean(), bits[-tenth:].mean()
    assert first - second > 3 * (second - last) / 8  # fast at first (per step), then slower
    assert bits[-2 * tenth:-tenth].mean() - last > 0.01  # the curve has not flattened
    cfg, data = cpu["cfg"], cpu["data"]
    seen = len(cpu["trained"].history.steps) * cfg.gpt.batch * cfg.gpt.context
    assert seen > len(data.train_ids)  # "about N times the training text", N > 1


@pytest.mark.slow
def test_claim_scoreboard(cpu):
    gpt, rnn = cpu["scored"].bits_per_char, cpu["rnn"]
    kneser_ney = cpu["ngram"]["char n-gram, Kneser–Ney"]
    assert gpt < rnn - 0.03  # the GPT beats the best RNN of chapter 7
    assert kneser_ney < gpt  # the n-gram model still leads at this budget
    data = cpu["data"]
    assert cpu["scored"].bits_per_token == pytest.approx(gpt * data.chars_per_token)
    assert 2 < data.chars_per_token < 3.5  # "fewer, longer tokens"
    assert data.tokenizer.decode(data.validation_ids.tolist()) == data.validation_text  # nothing is <unk>


@pytest.mark.slow
def test_claim_heads(cpu):
    w, sentence = cpu["weights"], cpu["sentence"]
    assert np.all(np.triu(w, k=1) == 0)  # the mask hides the future
    pieces = tx.token_pieces(cpu["data"].tokenizer, sentence)
    assert "".join(pieces) == sentence and w.shape[-1] == len(pieces)
    distance, previous = tx.attention_distance(w), tx.previous_token_share(w)
    self_heads = int(np.sum(distance[0] < 0.5))
    assert 1 < self_heads < w.shape[1]  # "N of the H heads" of the first layer look at the token itself
    layer, head = np.unravel_index(np.argmax(previous), previous.shape)
    assert distance[layer, head] >= 0.5  # the previous-token head is not one of those
    assert previous.max() > 0.25  # ... and gives the previous token a large share
    assert 1 < distance[-1].mean() < tx.even_attention_distance(len(pieces))  # the last layer: a few tokens back


@pytest.mark.slow
def test_claim_step_times(cpu):
    """What the prose states about the timing experiment, apart from the times themselves (this
    machine's, glued, never asserted)."""
    t, cfg = cpu["times"], cpu["cfg"]
    assert abs(t.rnn_parameters - t.gpt_parameters) / t.gpt_parameters < 0.05  # about as many parameters
    assert np.all(t.lengths * t.batch_sizes == cfg.gpt.batch * cfg.gpt.context)  # the same tokens per step
    assert np.all(np.diff(t.gpt_flops_per_token) > 0)  # the GPT's arithmetic per token grows with T ...
    long_model = tx.build_gpt(cfg, cpu["data"].tokenizer.vocab_size, context_length=int(t.lengths[-1]))
    assert t.gpt_flops_per_token[-1] == flops_per_token(long_model, seq_len=int(t.lengths[-1]))
    assert t.gpt_flops_per_token[-1] / t.gpt_flops_per_token[0] > 1.5  # ... by attention's share
    assert np.all(t.gpt_seconds > 0) and np.all(t.rnn_seconds > 0)


@pytest.mark.slow
def test_claim_attention_memory(cpu):
    m = cpu["memory"]
    growth = m.forward_bytes[1:] / m.forward_bytes[:-1]
    assert np.all(np.abs(growth - 4) < 0.3)  # each doubling of T: four times the memory
    assert np.median(m.forward_bytes / m.score_bytes) == 2  # scores and weights
    assert np.all(m.training_bytes > m.forward_bytes)  # training keeps more


@pytest.mark.slow
def test_claim_kv_cache(cpu):
    c = cpu["cache"]
    assert c.same_tokens  # "produce the same tokens" (the speed-up is this machine's: glued, not asserted)
    assert c.n_tokens == cpu["cfg"].gpt.context - len(cpu["data"].tokenizer.encode(tx.PROMPT))


@pytest.mark.slow
def test_claim_samples(cpu):
    s = cpu["samples"]
    # greedy decoding falls into a loop: one phrase of three words comes back again and again
    from collections import Counter

    from llmcourse.tokenizers import words

    w = words(s["greedy"].lower())
    assert Counter(zip(w, w[1:], w[2:])).most_common(1)[0][1] >= 4
    share = tx.real_word_shares(s, cpu["data"])
    low, high = min(share), max(share)
    assert share[low] > 0.8 and share[high] < share[low] - 0.1  # safe words at the lowest T, fewer at the highest


@pytest.mark.slow
def test_claim_exercises(cpu):
    model, cfg, data = cpu["trained"].model, cpu["cfg"], cpu["data"]
    window = np.asarray(data.validation_ids[: cfg.gpt.context])[None]
    changed = window.copy()
    changed[0, -1] = (changed[0, -1] + 1) % data.tokenizer.vocab_size
    before, after = np.asarray(model(window)), np.asarray(model(changed))
    assert np.array_equal(before[0, :-1], after[0, :-1]) and not np.allclose(before[0, -1], after[0, -1])
    cache = model.init_cache(1)
    assert sum(a.size for a in cache["k"] + cache["v"]) == 2 * cfg.gpt.layers * cfg.gpt.context * cfg.gpt.d_model
    sinusoidal = tx.build_gpt(cfg, data.tokenizer.vocab_size, positions="sinusoidal")
    assert cpu["trained"].parameters - tx.parameter_count(sinusoidal) == cfg.gpt.context * cfg.gpt.d_model


# ============================================================================ measuring the heads
def _previous_only(t):
    w = np.zeros((t, t))
    w[0, 0] = 1
    w[np.arange(1, t), np.arange(t - 1)] = 1
    return w[None, None]  # (1 layer, 1 head, t, t)


def test_a_head_reading_the_previous_token():
    w = _previous_only(9)
    assert tx.previous_token_share(w)[0, 0] == pytest.approx(1.0)
    assert tx.attention_distance(w)[0, 0] == pytest.approx(1.0)


def test_a_head_attending_evenly():
    t = 12
    w = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]
    assert tx.attention_distance(w[None, None])[0, 0] == pytest.approx(tx.even_attention_distance(t))
    assert tx.previous_token_share(w[None, None])[0, 0] == pytest.approx(np.mean(1 / np.arange(2, t + 1)))


def test_token_pieces_join_up_to_the_text():
    from llmcourse.tokenizers import BPETokenizer

    tok = BPETokenizer.train("the cat sat on the mat. " * 50, 280)
    text = "The cat, the mat; ünïcode too."
    pieces = tx.token_pieces(tok, "the cat sat")
    assert "".join(pieces) == "the cat sat" and len(pieces) < len("the cat sat")
    assert tok.decode(tok.encode(text)) == text  # byte-level: nothing is lost, nothing is <unk>
