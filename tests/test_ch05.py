"""Chapter 5, "Language models: predicting the next token": the character n-gram model, the
metrics, the scoreboard, sampling, the exercise checkers and the notebook's form. The prose's claims
are asserted on the executed notebook's glued values in ``test_claims_ch05.py``."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import nbformat
import numpy as np
import pytest

from conftest import glue_names
from llmcourse import generation, metrics, scoreboard
from llmcourse.config import preset
from llmcourse.data import wikipedia_text
from llmcourse.scoreboard import ScoreboardError
from llmcourse.exercises import ch05
from llmcourse.experiments import language_models as lm
from llmcourse.generation import GenerationError
from llmcourse.models.ngram import BigramCounts, CharNGramModel
from llmcourse.notebook import setup_cell_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "chapters" / "05_language_models.ipynb"
SMALL = "the cat sat on the mat. the cat ate the hat; that cat sat at the mat."


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ============================================================================ CharNGramModel
@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_next_char_probabilities_sum_to_one(smoothing, order):
    model = CharNGramModel(SMALL, order, smoothing=smoothing, k=0.5)
    for context in ["", "t", "the c", "th", "zzz", "the q", "ca", "mat."]:
        p = model.next_char_probabilities(context)
        assert p.shape == (model.vocab_size,)
        assert np.all(p > 0), f"a zero probability after {context!r}"
        assert math.isclose(p.sum(), 1.0, rel_tol=1e-9), (context, p.sum())


@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
def test_unseen_characters_get_nonzero_probability(smoothing):
    model = CharNGramModel(SMALL, 3, smoothing=smoothing)
    p = model.next_char_probabilities("th")
    assert p[0] > 0  # <unk>: every character never seen in training
    assert p[model.tokenizer.index["m"]] > 0  # "thm" never occurs
    lp = model.log_probs("the zebra ate the quiche!")  # z, b, q, u, i, !, ... never seen
    assert np.all(np.isfinite(lp)) and np.all(lp < 0)


def test_vocabulary_is_training_characters_plus_unknown():
    model = CharNGramModel("abcab", 2)
    assert model.tokenizer.chars == ["<unk>", "a", "b", "c"]
    assert model.vocab_size == 4
    np.testing.assert_array_equal(model.encode("abz"), [1, 2, 0])


def test_add_k_follows_its_formula():
    model = CharNGramModel("abab", 2, smoothing="add-k", k=1.0)  # V = 3: <unk>, a, b
    p = model.next_char_probabilities("a")
    assert p[model.tokenizer.index["b"]] == pytest.approx((2 + 1) / (2 + 3))
    assert p[model.tokenizer.index["a"]] == pytest.approx((0 + 1) / (2 + 3))
    assert model.next_char_probabilities("b")[1] == pytest.approx((1 + 1) / (1 + 3))
    # an unseen context gives the uniform distribution
    np.testing.assert_allclose(model.next_char_probabilities("<"), np.full(3, 1 / 3))


def test_kneser_ney_follows_its_formula():
    # "abab", order 2, D = 0.75. Unigram level (continuation counts): N1+(. a) = 1 (only "b"
    # precedes "a"), N1+(. b) = 1, total 2, 2 types, so P(a) = P(b) = (0.25 + 0.75 * 2 / 3) / 2
    # = 0.375 and P(<unk>) = 0.75 * 2 / 3 / 2 = 0.25. Bigram level after "a": c(ab) = 2, c(a.) = 2,
    # one type: P(b | a) = 1.25 / 2 + 0.75 * 1 / 2 * 0.375.
    model = CharNGramModel("abab", 2, discount=0.75)
    uni = model.with_options(order=1)
    # the order-1 model's only level is the top level: raw counts c(a) = 2, c(b) = 2
    assert uni.next_char_probabilities("")[1] == pytest.approx((2 - 0.75 + 0.75 * 2 / 3) / 4)
    p = model.next_char_probabilities("a")
    assert p[model.tokenizer.index["b"]] == pytest.approx(1.25 / 2 + 0.75 / 2 * 0.375)
    assert p[model.tokenizer.index["a"]] == pytest.approx(0.75 / 2 * 0.375)
    assert p[0] == pytest.approx(0.75 / 2 * 0.25)


@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
def test_lower_orders_from_the_same_counts_equal_fresh_models(smoothing):
    big = CharNGramModel(SMALL, 5, smoothing=smoothing, k=0.3)
    text = "the mat sat on a cat. zz"
    for order in range(1, 6):
        fresh = CharNGramModel(SMALL, order, smoothing=smoothing, k=0.3, tokenizer=big.tokenizer)
        np.testing.assert_allclose(big.with_options(order=order).log_probs(text), fresh.log_probs(text), rtol=1e-12)


@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
def test_log_probs_agree_with_next_char_probabilities(smoothing):
    model = CharNGramModel(SMALL, 4, smoothing=smoothing)
    text = "the hat sat. qat"
    lp = model.log_probs(text)
    assert lp.shape == (len(text),)
    for t, ch in enumerate(text):
        p = model.next_char_probabilities(text[:t])
        assert lp[t] == pytest.approx(math.log(p[model.tokenizer.index.get(ch, 0)]), rel=1e-12)


def test_a_huge_k_gives_the_uniform_model():
    model = CharNGramModel(SMALL, 3, smoothing="add-k", k=1e12)
    bits = metrics.bits_per_char(model.log_probs("the cat sat"))
    assert bits == pytest.approx(math.log2(model.vocab_size), rel=1e-9)


def test_stored_ngrams_and_seen_contexts():
    model = CharNGramModel("abab", 3)
    assert model.stored_ngrams() == [2, 2, 2]  # {a, b}, {ab, ba}, {aba, bab}
    seen = model.seen_context_share("abba")
    # order 1: always; order 2: a, b, b seen; order 3: "ab" seen, "bb" not
    np.testing.assert_allclose(seen, [1.0, 1.0, 0.5])


def test_char_ngram_errors():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="order must be an int >= 1"):
            CharNGramModel(SMALL, bad)
    with pytest.raises(ValueError, match="empty text"):
        CharNGramModel("", 2)
    with pytest.raises(ValueError, match="fewer than order=5"):
        CharNGramModel("abc", 5)
    with pytest.raises(TypeError, match="as a str"):
        CharNGramModel(["a", "b"], 1)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="k must be > 0"):
            CharNGramModel(SMALL, 2, smoothing="add-k", k=bad)
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="discount must be in"):
            CharNGramModel(SMALL, 2, discount=bad)
    with pytest.raises(ValueError, match="unknown smoothing"):
        CharNGramModel(SMALL, 2, smoothing="laplace")
    model = CharNGramModel(SMALL, 3)
    with pytest.raises(ValueError, match=r"order must be an int in 1\.\.3"):
        model.with_options(order=4)
    with pytest.raises(ValueError, match="empty text"):
        model.log_probs("")


def test_chapter_1_bigram_counts_still_work():
    model = BigramCounts("the cat sat on the mat".split())
    assert dict(model.next_word_probabilities("the")) == {"cat": 0.5, "mat": 0.5}


# ============================================================================ metrics
def test_metrics_on_a_coin():
    lp = np.log(np.full(8, 0.5))
    assert metrics.cross_entropy(lp) == pytest.approx(math.log(2))
    assert metrics.perplexity(lp) == pytest.approx(2.0)
    assert metrics.bits_per_char(lp) == pytest.approx(1.0)


@pytest.mark.parametrize("V", [2, 27, 327, 50_000])
def test_uniform_model_has_log2_v_bits_and_perplexity_v(V):
    lp = np.full(123, -math.log(V))
    assert metrics.bits_per_char(lp) == pytest.approx(math.log2(V))
    assert metrics.perplexity(lp) == pytest.approx(V)


def test_bits_per_char_divides_by_characters_not_tokens():
    lp = np.log([0.5, 0.25])  # 1 + 2 bits over, say, two tokens that spell 6 characters
    assert metrics.bits_per_char(lp, n_chars=6) == pytest.approx(3 / 6)


def test_a_zero_probability_gives_infinite_cross_entropy():
    assert metrics.cross_entropy([math.log(0.5), -math.inf]) == math.inf
    assert metrics.perplexity([-math.inf]) == math.inf


def test_metric_errors():
    for metric in (metrics.cross_entropy, metrics.perplexity, metrics.bits_per_char):
        with pytest.raises(ValueError, match="at least one token"):
            metric([])
        with pytest.raises(ValueError, match="did you pass probabilities"):
            metric([0.5, 0.2])
        with pytest.raises(ValueError, match="NaN"):
            metric([-1.0, float("nan")])
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_chars must be an int >= 1"):
            metrics.bits_per_char([-1.0], n_chars=bad)


# ============================================================================ generation
LOGITS = jnp.array([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])


def test_probabilities_are_softmax_of_logits_over_t():
    for t in (0.3, 1.0, 4.0):
        p = np.asarray(generation.probabilities(LOGITS, temperature=t))
        np.testing.assert_allclose(p, softmax(np.asarray(LOGITS) / t), rtol=1e-5)
        assert p.sum() == pytest.approx(1.0, abs=1e-6)


def test_temperature_keeps_the_ranking_and_sharpens_or_flattens():
    ps = {t: np.asarray(generation.probabilities(LOGITS, temperature=t)) for t in (0.5, 1.0, 2.0)}
    for p in ps.values():
        assert np.all(np.diff(p) < 0)  # LOGITS are sorted: the order never changes
    assert ps[0.5][0] > ps[1.0][0] > ps[2.0][0]
    assert ps[0.5][-1] < ps[1.0][-1] < ps[2.0][-1]
    flat = np.asarray(generation.probabilities(LOGITS, temperature=1e4))
    np.testing.assert_allclose(flat, np.full(6, 1 / 6), atol=1e-3)


def test_temperature_towards_zero_approaches_greedy():
    p = np.asarray(generation.probabilities(LOGITS, temperature=0.01))
    assert p[0] == pytest.approx(1.0, abs=1e-6)
    keys = jax.random.split(jax.random.key(0), 20)
    draws = [int(generation.sample(k, LOGITS, temperature=0.01)) for k in keys[:20]]
    assert set(draws) == {int(generation.greedy(LOGITS))} == {0}


def test_sampling_is_deterministic_under_a_fixed_key():
    key = jax.random.key(42)
    batch = jnp.tile(LOGITS, (64, 1))
    a = generation.sample(key, batch, temperature=1.3, top_k=4, top_p=0.95)
    b = generation.sample(key, batch, temperature=1.3, top_k=4, top_p=0.95)
    np.testing.assert_array_equal(a, b)
    c = generation.sample(jax.random.key(43), batch, temperature=1.3, top_k=4, top_p=0.95)
    assert not np.array_equal(a, c)


def test_sample_frequencies_match_probabilities():
    draws = np.asarray(generation.sample(jax.random.key(1), jnp.tile(LOGITS, (20_000, 1)), top_k=4))
    freq = np.bincount(draws, minlength=6) / draws.size
    np.testing.assert_allclose(freq, np.asarray(generation.probabilities(LOGITS, top_k=4)), atol=0.015)
    assert freq[4] == 0 and freq[5] == 0


@pytest.mark.parametrize("k", [1, 2, 3, 6, 10])
def test_top_k_keeps_exactly_k_even_with_ties(k):
    tied = jnp.array([1.0, 3.0, 3.0, 3.0, 0.0, 3.0])
    kept = np.isfinite(np.asarray(generation.top_k_filter(tied, k)))
    assert kept.sum() == min(k, 6)
    # the k largest; among the four tied logits the earlier tokens first
    assert set(np.flatnonzero(kept)) == set([1, 2, 3, 5, 0, 4][:k])
    batch = np.asarray(generation.top_k_filter(jnp.tile(tied, (3, 1)), k))
    assert np.isfinite(batch).sum(axis=-1).tolist() == [min(k, 6)] * 3


def test_top_p_keeps_the_smallest_set_reaching_p():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        z = rng.normal(scale=rng.uniform(0.5, 3), size=rng.choice([2, 7, 40])).astype(np.float32)
        p = float(rng.uniform(0.05, 1.0))
        probs = softmax(z)
        order = np.argsort(-probs, kind="stable")
        cum = np.cumsum(probs[order])
        if np.min(np.abs(cum - p)) < 1e-4:
            continue  # too close to a boundary for float32 to decide
        m = int(np.searchsorted(cum, p) + 1)  # the smallest m with cum[m-1] >= p
        kept = np.isfinite(np.asarray(generation.top_p_filter(z, p)))
        assert set(np.flatnonzero(kept)) == set(order[:m]), (p, probs[order], kept)
        assert probs[kept].sum() >= p and (m == 1 or cum[m - 2] < p)
        checked += 1
    assert checked > 200


def test_top_p_edge_cases_and_the_exercise():
    z = np.log([0.5, 0.3, 0.15, 0.05])
    expected = {0.4: [1, 0, 0, 0], 0.7: [0.625, 0.375, 0, 0], 0.9: [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0],
                1.0: [0.5, 0.3, 0.15, 0.05]}
    for p, want in expected.items():
        np.testing.assert_allclose(generation.probabilities(z, top_p=p), want, atol=1e-5)
    assert np.isfinite(np.asarray(generation.top_p_filter(z, 1e-9))).sum() == 1  # never empty


def test_generation_errors():
    key = jax.random.key(0)
    for bad in (0, -1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(GenerationError, match="temperature must be"):
            generation.sample(key, LOGITS, temperature=bad)
    with pytest.raises(GenerationError, match="greedy"):
        generation.apply_temperature(LOGITS, 0.0)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(GenerationError, match="top_k must be an int >= 1"):
            generation.sample(key, LOGITS, top_k=bad)
    for bad in (0, -0.1, 1.01, 2, True):
        with pytest.raises(GenerationError, match=r"top_p must be a number in \(0, 1\]"):
            generation.sample(key, LOGITS, top_p=bad)
    with pytest.raises(GenerationError, match="vocabulary axis"):
        generation.sample(key, jnp.zeros((3, 0)))
    with pytest.raises(GenerationError, match="needs a jax.random key"):
        generation.generate(lambda ids: LOGITS, [0], 3)
    with pytest.raises(GenerationError, match="n_tokens must be an int >= 0"):
        generation.generate(lambda ids: LOGITS, [0], -1, key=key)


def test_generate_is_deterministic_and_greedy_follows_argmax():
    model = CharNGramModel(SMALL, 3)
    prompt = model.encode("the ")
    a = generation.generate(model.next_logits, prompt, 30, key=jax.random.key(5), top_p=0.9)
    b = generation.generate(model.next_logits, prompt, 30, key=jax.random.key(5), top_p=0.9)
    assert a == b and len(a) == len(prompt) + 30 and a[: len(prompt)] == prompt.tolist()
    greedy = generation.generate(model.next_logits, prompt, 20, use_greedy=True)
    ids = list(prompt)
    for _ in range(20):
        ids.append(int(np.argmax(model.next_char_probabilities(np.asarray(ids)))))
    assert greedy == ids


def test_repetition_period():
    assert lm.repetition_period("xyz" + "abc" * 4) == 3
    assert lm.repetition_period("aaaa") == 1
    assert lm.repetition_period("abcdefg") is None


# ============================================================================ the scoreboard
@pytest.fixture
def board(tmp_path, monkeypatch):
    """A private scoreboard file and a small fixed 'validation text'."""
    path = tmp_path / "scoreboard.json"
    monkeypatch.setattr(scoreboard, "file_path", lambda: path)
    monkeypatch.setattr(scoreboard, "text", lambda cfg: "a fixed validation text")
    return path


def test_scoreboard_round_trips_sorted_and_replaces_rows(board):
    tiny, cpu = preset("tiny"), preset("cpu")
    scoreboard.record("bigram", 3.6, tiny, chapter=5, details="order 2")
    scoreboard.record("GPT", 1.5, tiny, chapter=8)
    scoreboard.record("RNN", 1.9, tiny, chapter=7)
    scoreboard.record("RNN", 1.8, tiny, chapter=7, details="longer")  # replaces the row
    scoreboard.record("GPT", 1.2, cpu, chapter=8)  # another preset
    rows = scoreboard.rows(tiny)
    assert [(r.model, r.bits_per_char) for r in rows] == [("GPT", 1.5), ("RNN", 1.8), ("bigram", 3.6)]
    assert rows[1].details == "longer" and rows[0].chapter == 8 and rows[0].preset == "tiny"
    assert rows[0].validation_chars == len("a fixed validation text")
    assert [r.model for r in scoreboard.rows(cpu)] == ["GPT"]
    assert len(scoreboard.load_file(board)) == 4
    assert "| RNN | 1.800 | 7 | longer |" in scoreboard.markdown(rows)
    assert not list(board.parent.glob("*.tmp")), "a temporary file was left behind"


def test_scoreboard_refuses_a_corrupted_file(board):
    cfg = preset("tiny")
    scoreboard.record("RNN", 1.9, cfg, chapter=7)
    entry = json.loads(board.read_text())
    entry["payload"]["rows"][0]["bits_per_char"] = 0.5  # someone "improves" a score by hand
    board.write_text(json.dumps(entry))
    with pytest.raises(ScoreboardError, match="corrupt"):
        scoreboard.load_file(board)
    with pytest.warns(UserWarning, match="corrupt"):
        assert scoreboard.rows(cfg) == []  # never used
    with pytest.warns(UserWarning, match="starting a new scoreboard"):
        scoreboard.record("GPT", 1.4, cfg, chapter=8)
    assert [r.model for r in scoreboard.rows(cfg)] == ["GPT"]
    (backup,) = board.parent.glob("scoreboard.json.corrupt-*")
    assert json.loads(backup.read_text())["payload"]["rows"][0]["bits_per_char"] == 0.5  # kept as it was


def test_scoreboard_backups_never_overwrite_each_other(board):
    cfg = preset("tiny")
    for attempt in range(3):  # three corruptions within the same second
        board.write_text(f"broken {attempt}")
        with pytest.warns(UserWarning) as caught:
            scoreboard.record("GPT", 1.4, cfg, chapter=8)
        (warning,) = caught
        assert str(warning.message).startswith(f"{board}: corrupt scoreboard (it is not valid JSON")
        assert "\n" not in str(warning.message)
    backups = sorted(board.parent.glob("scoreboard.json.corrupt-*"))
    assert sorted(p.read_text() for p in backups) == ["broken 0", "broken 1", "broken 2"]
    assert not list(board.parent.glob("*.tmp"))


def test_scoreboard_of_a_newer_llmcourse_is_refused_not_moved(board):
    from llmcourse.sealed import read_sealed, write_sealed

    cfg = preset("tiny")
    scoreboard.record("RNN", 1.9, cfg, chapter=7)
    write_sealed(board, "llmcourse scoreboard", read_sealed(board, "llmcourse scoreboard", 2), 3)
    before = board.read_bytes()
    for call in (lambda: scoreboard.record("GPT", 1.4, cfg, chapter=8), lambda: scoreboard.rows(cfg),
                 lambda: scoreboard.load_file(board)):
        with pytest.raises(scoreboard.ScoreboardFormatError, match="written by a newer llmcourse.*upgrade"):
            call()
    assert board.read_bytes() == before and not list(board.parent.glob("scoreboard.json.corrupt*"))


@pytest.mark.parametrize("content, problem", [
    ("", "not valid JSON"), ("not json {", "not valid JSON"), ("null", "holds null"), ("[1, 2]", "holds an array"),
    ('{"sha256": "0", "payload": {"rows": []}}', "holds no kind"),  # the old unsealed layout
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_scoreboard_refuses_unreadable_files(board, content, problem):
    board.write_text(content)
    with pytest.raises(ScoreboardError, match=problem):
        scoreboard.load_file(board)


@pytest.mark.parametrize("payload, problem", [
    ({"rows": "none"}, r'is not \{"rows": \[...\]\}'),
    ({"rows": [], "extra": 1}, r'is not \{"rows"'),
    ({"rows": [{"model": "x"}]}, "has a row 0 with the fields"),
    ({"rows": [{"model": "x", "bits_per_char": "low", "chapter": 5, "details": "", "preset": "tiny",
                "validation_chars": 3, "validation_sha256": "ab"}]}, "row 0 whose bits_per_char is 'low'"),
])
def test_scoreboard_refuses_sealed_but_malformed_rows(board, payload, problem):
    from llmcourse.sealed import write_sealed

    write_sealed(board, "llmcourse scoreboard", payload, 2)
    with pytest.raises(ScoreboardError, match=problem):
        scoreboard.load_file(board)


def test_scoreboard_leaves_out_rows_scored_on_another_text(board, monkeypatch):
    cfg = preset("tiny")
    scoreboard.record("old", 2.0, cfg, chapter=5)
    monkeypatch.setattr(scoreboard, "text", lambda cfg: "a different validation text")
    scoreboard.record("new", 2.5, cfg, chapter=5)
    with pytest.warns(UserWarning, match="different validation text"):
        assert [r.model for r in scoreboard.rows(cfg)] == ["new"]


def test_record_score_errors(board):
    cfg = preset("tiny")
    for bad in (0, -1.0, float("nan"), float("inf"), "2", True):
        with pytest.raises(ScoreboardError, match="finite number > 0"):
            scoreboard.record("m", bad, cfg, chapter=5)
    for bad in ("", "  ", None):
        with pytest.raises(ScoreboardError, match="model_name"):
            scoreboard.record(bad, 2.0, cfg, chapter=5)
    with pytest.raises(ScoreboardError, match="chapter"):
        scoreboard.record("m", 2.0, cfg, chapter=0)
    assert not board.exists()


def test_scoreboard_text_is_the_validation_split():
    cfg = preset("tiny")
    text = scoreboard.text(cfg)
    assert text == wikipedia_text("validation")[: cfg.data.scoreboard_max_chars]
    for name in ("cpu", "gpu"):  # the whole split
        assert preset(name).data.scoreboard_max_chars > len(wikipedia_text("validation"))


def test_ngram_rows_are_recomputed_deterministically(tmp_path, monkeypatch):
    monkeypatch.setattr(scoreboard, "file_path", lambda: tmp_path / "scoreboard.json")
    cfg = preset("tiny")
    first = lm.record_ngram_scores(cfg)
    again = lm.ngram_scores(lm.ngram_sweep(cfg))
    assert [(r.model, r.bits_per_char, r.details) for r in first] == again
    rows = scoreboard.rows(cfg)
    assert {r.model for r in rows} == {name for name, _, _ in again}
    assert all(r.chapter == 5 and r.preset == "tiny" for r in rows)
    with pytest.raises(ValueError, match="the sweep needs"):
        lm.ngram_sweep(cfg, model=CharNGramModel(SMALL, cfg.lm.ngram_max_order))


# ============================================================================ the checkers
def _softmax_t(z, t):
    z = np.asarray(z, dtype=float) / t
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_temperature_checker_passes_a_correct_answer():
    assert ch05.check_softmax_with_temperature(_softmax_t)
    assert ch05.check_softmax_with_temperature(lambda z, t: np.asarray(generation.probabilities(z, temperature=t)))


@pytest.mark.parametrize("answer, message", [
    (lambda z, t: np.exp(np.asarray(z) / t) / np.exp(np.asarray(z) / t).sum(-1, keepdims=True), "subtract the largest logit"),
    (lambda z, t: _softmax_t(np.asarray(z) * t * t, t), "multiplied the logits by the temperature"),
    (lambda z, t: _softmax_t(z, 1.0), "ignore the temperature"),
    (lambda z, t: np.exp(np.asarray(z) / t - np.max(np.asarray(z) / t)) / np.exp(np.asarray(z) / t - np.max(np.asarray(z) / t)).sum(),
     "normalise each row"),
    (lambda z, t: _softmax_t(z, t)[..., :-1], "shape"),
    (lambda z, t: None, "returned None"),
    (lambda z, t: 1 / 0, "ZeroDivisionError"),
])
def test_temperature_checker_explains_mistakes(answer, message):
    result = ch05.check_softmax_with_temperature(answer)
    assert not result and message in result.message, result.message


def test_temperature_checker_on_the_untouched_stub():
    def stub(logits, temperature):
        raise NotImplementedError

    result = ch05.check_softmax_with_temperature(stub)
    assert not result and "write its body" in result.message
    assert not ch05.check_softmax_with_temperature("not a function")


def test_perplexity_checker_passes_a_correct_answer():
    assert ch05.check_perplexity(lambda p: float(np.exp(-np.mean(np.log(p)))))
    assert ch05.check_perplexity(lambda p: 2 ** float(-np.mean(np.log2(p))))


@pytest.mark.parametrize("answer, message", [
    (lambda p: math.prod(p) ** (-1 / len(p)), "underflows"),
    (lambda p: float(np.prod(p)) ** (-1 / len(p)) if np.prod(p) > 0 else float("inf"), "underflows"),
    (lambda p: 1 / float(np.mean(p)), "geometric"),
    (lambda p: float(-np.mean(np.log(p))), "cross-entropy"),
    (lambda p: float(-np.mean(np.log2(p))), "in bits"),
    (lambda p: None, "returned None"),
    (lambda p: "2", None),
    (lambda p: [1.0, 2.0], "one number"),
])
def test_perplexity_checker_explains_mistakes(answer, message):
    result = ch05.check_perplexity(answer)
    assert not result
    if message:
        assert message in result.message, result.message


# ============================================================================ the notebook's form
def _notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_form():
    nb = _notebook()
    assert nb.cells[0].source == setup_cell_source()
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert text.count("{exercise}") >= 3 and text.count("{solution}") >= text.count("{exercise}")
    assert re.search(r"[\uac00-\ud7a3]", text)  # the Korean terms
    for term in ("언어 모델", "퍼플렉서티", "온도", "샘플링", "탐욕적 디코딩"):
        assert term in text
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"[\uac00-\ud7a3]", code), "no Hangul in figures: matplotlib has no font for it"
    for citation in ("shannon1948mathematical", "chen1999empirical", "holtzman2020curious"):
        assert citation in text
        assert citation in (ROOT / "references.bib").read_text()


def test_every_glued_name_in_the_prose_is_glued_by_the_code():
    used, glued = glue_names(_notebook())
    assert used and used <= glued, sorted(used - glued)


def test_notebook_runs_the_experiments_the_claims_test():
    code = "\n".join(c.source for c in _notebook().cells if c.cell_type == "code")
    for call in (
        "CharNGramModel(train_text, order=cfg.lm.ngram_max_order)",
        "lm.ngram_sweep(cfg, model=model)",
        'prompt_text = "The capital of Fran"',
        "orders = sorted({1, 2, 3, min(5, cfg.lm.ngram_max_order), sweep.best_order(), cfg.lm.ngram_max_order})",
        "lm.samples_by_order(model, orders, train_text, cfg.lm.sample_chars, seed=cfg.seed)",
        "lm.greedy_loop(best_model, cfg.lm.sample_chars)",
        'lm.temperature_study(best_model, "The capital of ", cfg.lm.sample_chars, seed=cfg.seed)',
        'contexts = ("the United Sta", "in the ")',
        "lm.filter_study(best_model, contexts, k=lm.TOP_K, p=lm.TOP_P)",
        "lm.record_ngram_scores(cfg, sweep)",
    ):
        assert call in code, call
