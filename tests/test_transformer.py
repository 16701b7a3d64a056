"""The transformer (llmcourse.models.transformer) and its compiled, KV-cached generation
(llmcourse.generation.generate_cached): attention against a plain loop, the causal mask, cached
against uncached decoding, positions, scoring, FLOP count, and every bad-input error."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from llmcourse import generation
from llmcourse.data import TokenWindows
from llmcourse.generation import GenerationError
from llmcourse.metrics import validation_bits_per_char
from llmcourse.models.transformer import (
    GPT, MultiHeadAttention, TransformerError, attention, causal_mask, flops_per_token, loss_fn,
    parameter_count, sinusoidal_positions, token_log_probs,
)
from llmcourse.tokenizers import CharTokenizer
from llmcourse.training import TrainConfig, train

V = 23


def small_gpt(positions="learned", tie=True, context=12, seed=0, **sizes):
    sizes = {"d_model": 16, "n_heads": 4, "n_layers": 2, **sizes}
    return GPT(V, context, **sizes, positions=positions, tie_embeddings=tie, rngs=nnx.Rngs(seed))


def random_ids(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).integers(0, V, shape), jnp.int32)


def naive_attention(q, k, v, causal=True):
    """Scaled dot-product attention, one query at a time, in plain NumPy (float64)."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    *lead, tq, d = q.shape
    out = np.zeros(q.shape)
    weights = np.zeros((*lead, tq, k.shape[-2]))
    for index in np.ndindex(*lead):
        for t in range(tq):
            visible = t + 1 if causal else k.shape[-2]
            scores = np.array([q[index][t] @ k[index][u] / math.sqrt(d) for u in range(visible)])
            w = np.exp(scores - scores.max())
            w /= w.sum()
            weights[index][t, :visible] = w
            out[index][t] = sum(w[u] * v[index][u] for u in range(visible))
    return out, weights


# ============================================================================ attention
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 7, 8), (1, 1, 1, 2)])
def test_attention_equals_a_naive_loop(shape):
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=shape).astype(np.float32) for _ in range(3))
    y, w = attention(q, k, v, causal_mask(shape[-2]))
    want_y, want_w = naive_attention(q, k, v)
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w, want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-6)
    y_full, _ = attention(q, k, v)  # no mask: every position sees every position
    np.testing.assert_allclose(y_full, naive_attention(q, k, v, causal=False)[0], rtol=1e-5, atol=1e-5)


def test_causal_mask_is_the_lower_triangle():
    np.testing.assert_array_equal(causal_mask(4), np.tril(np.ones((4, 4), bool)))


def test_fully_masked_rows_give_no_nan():
    q = jnp.ones((2, 3))
    y, w = attention(q, q, q, jnp.zeros((2, 2), bool))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(w))


def test_multi_head_attention_equals_heads_computed_one_by_one():
    mha = MultiHeadAttention(12, 3, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 5, 12))
    y, weights = mha(x, return_weights=True)
    assert y.shape == (2, 5, 12) and weights.shape == (2, 3, 5, 5)
    qkv = np.asarray(x @ mha.qkv.kernel[...] + mha.qkv.bias[...])
    q, k, v = np.split(qkv, 3, axis=-1)
    heads = []
    for h in range(3):
        cols = slice(4 * h, 4 * h + 4)
        out, w = naive_attention(q[..., cols], k[..., cols], v[..., cols])
        np.testing.assert_allclose(weights[:, h], w, rtol=1e-4, atol=1e-5)
        heads.append(out)
    want = np.concatenate(heads, axis=-1) @ np.asarray(mha.out.kernel[...]) + np.asarray(mha.out.bias[...])
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


# ============================================================================ the causal mask in the model
@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_changing_a_later_token_leaves_earlier_logits_unchanged(positions):
    model = small_gpt(positions)
    ids = random_ids((3, 12))
    before = model(ids)
    for t in (0, 5, 11):
        changed = ids.at[:, t].set((ids[:, t] + 1) % V)
        after = model(changed)
        np.testing.assert_array_equal(after[:, :t], before[:, :t])  # the past cannot see the change
        assert not np.allclose(after[:, t:], before[:, t:])  # from t on it can


def test_attention_weights_are_causal_rows_of_probabilities():
    model = small_gpt()
    logits, weights = model(random_ids((2, 9)), return_attention=True)
    assert logits.shape == (2, 9, V) and weights.shape == (2, 2, 4, 9, 9)  # (batch, layers, heads, time, time)
    w = np.asarray(weights)
    assert np.all(np.triu(w, k=1) == 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)


# ============================================================================ cache
@pytest.mark.parametrize("positions, tie", [("learned", True), ("sinusoidal", False)])
def test_cached_and_uncached_decoding_give_the_same_logits(positions, tie):
    model = small_gpt(positions, tie)
    ids = random_ids((2, 12), seed=3)
    full = model(ids)  # (batch, time, V): every position at once
    for prompt_len in (1, 4):
        logits, cache = model.prefill(ids[:, :prompt_len], model.init_cache(2))
        np.testing.assert_allclose(logits, full[:, prompt_len - 1], rtol=1e-5, atol=1e-5)
        for t in range(prompt_len, 12):
            logits, cache = model.decode_step(ids[:, t], jnp.int32(t), cache)
            np.testing.assert_allclose(logits, full[:, t], rtol=1e-4, atol=1e-5)
    # the cache holds exactly the keys of the positions seen so far
    assert cache["k"][0].shape == (2, 4, 12, 4)


def test_compiled_decode_step_matches_too():
    model = small_gpt()
    ids = random_ids((1, 12), seed=4)
    full = model(ids)
    step = nnx.jit(lambda m, tok, pos, cache: m.decode_step(tok, pos, cache))
    _, cache = model.prefill(ids[:, :3], model.init_cache(1))
    for t in range(3, 12):
        logits, cache = step(model, ids[:, t], jnp.int32(t), cache)
        np.testing.assert_allclose(logits, full[:, t], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("settings", [{"use_greedy": True}, {"temperature": 0.7}, {"top_k": 3},
                                      {"temperature": 1.3, "top_p": 0.8}])
def test_generate_cached_equals_recomputing_the_context(settings):
    model = small_gpt(context=24)
    prompt = [3, 1, 4, 1, 5]
    key = jax.random.key(7)
    cached = generation.generate_cached(model, prompt, 15, key=key, **settings)
    recomputed = generation.generate_cached(model, prompt, 15, key=key, use_cache=False, **settings)
    assert cached == recomputed
    assert len(cached) == 20 and cached[:5] == prompt


@pytest.mark.parametrize("prompt_len", [5])
def test_generation_beyond_the_context_slides_the_same_way_with_and_without_cache(prompt_len):
    """Past the context, both loops re-read the last half of it; a plain Python loop with the
    same rule gives the same tokens."""
    model = small_gpt(context=12)
    prompt = list(np.asarray(random_ids((1, prompt_len), seed=8))[0])
    n = 30
    cached = generation.generate_cached(model, prompt, n, use_greedy=True)
    assert cached == generation.generate_cached(model, prompt, n, use_greedy=True, use_cache=False)
    key = jax.random.key(2)
    assert (generation.generate_cached(model, prompt, n, key=key, temperature=1.5)
            == generation.generate_cached(model, prompt, n, key=key, temperature=1.5, use_cache=False))
    ids, start = list(prompt), 0
    for _ in range(n):
        ids.append(int(np.argmax(model(jnp.asarray([ids[start:]]))[0, -1])))
        if len(ids) - 1 - start == 12:  # the window was full: keep its last 6 tokens
            start = len(ids) - 6
    assert cached == ids


def test_greedy_generation_follows_the_argmax_of_the_full_model():
    model = small_gpt(context=20)
    ids = [2, 7, 1]
    out = generation.generate_cached(model, ids, 10, use_greedy=True)
    for _ in range(10):
        ids.append(int(np.argmax(model(jnp.asarray([ids]))[0, -1])))
    assert out == ids
    # the plain loop of chapter 5 with the same model gives the same text
    plain = generation.generate(lambda x: model(jnp.asarray([x]))[0, -1], [2, 7, 1], 10, use_greedy=True)
    assert plain == out


def test_sampling_is_deterministic_and_top_k_1_is_greedy():
    model = small_gpt(context=20)
    key = jax.random.key(0)
    a = generation.generate_cached(model, [1, 2], 12, key=key, temperature=1.5)
    assert a == generation.generate_cached(model, [1, 2], 12, key=key, temperature=1.5)
    assert a != generation.generate_cached(model, [1, 2], 12, key=jax.random.key(1), temperature=1.5)
    assert (generation.generate_cached(model, [1, 2], 12, key=key, top_k=1)
            == generation.generate_cached(model, [1, 2], 12, use_greedy=True))
    assert generation.generate_cached(model, [1, 2], 0, use_greedy=True) == [1, 2]


def test_choose_token_uses_the_chapter_5_filters():
    logits = jnp.array([[2.0, 1.0, 0.5, -1.0]] * 4000)
    draws = np.asarray(generation.choose_token(jax.random.key(3), logits, 1.0, top_k=2))
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, generation.probabilities(logits[0], top_k=2), atol=0.03)
    assert np.asarray(generation.choose_token(None, logits, 1.0, use_greedy=True)).tolist() == [0] * 4000


# ============================================================================ positions
def test_sinusoidal_positions_follow_the_formula():
    p = np.asarray(sinusoidal_positions(50, 8))
    t, i = 37, 3
    assert p[t, 2 * i] == pytest.approx(math.sin(t / 10000 ** (2 * i / 8)), abs=1e-5)
    assert p[t, 2 * i + 1] == pytest.approx(math.cos(t / 10000 ** (2 * i / 8)), abs=1e-5)
    assert len({tuple(np.round(row, 4)) for row in p}) == 50  # every position distinct


def test_position_embeddings_change_the_model_and_sinusoidal_ones_have_no_parameters():
    learned, fixed = small_gpt("learned"), small_gpt("sinusoidal")
    assert parameter_count(learned) - parameter_count(fixed) == 12 * 16
    x = jnp.asarray([[5, 5, 5, 5]])
    for model in (learned, fixed):  # the same token at different positions gets different scores
        logits = np.asarray(model(x))[0]
        assert not np.allclose(logits[1], logits[2])


def test_tied_embeddings_save_a_vocabulary_sized_matrix():
    tied, untied = small_gpt(tie=True), small_gpt(tie=False)
    assert parameter_count(untied) - parameter_count(tied) == V * 16 + V  # the output matrix and its bias


def test_flops_per_token_formula():
    model = small_gpt(tie=False)
    matmul_weights = parameter_count(model) - V * 16 - 12 * 16  # no lookup tables
    assert flops_per_token(model) == 6 * matmul_weights + 12 * 2 * 12 * 16
    assert flops_per_token(model, seq_len=4) == 6 * matmul_weights + 12 * 2 * 4 * 16
    tied = small_gpt(tie=True)
    assert flops_per_token(tied) == 6 * (parameter_count(tied) - 12 * 16) + 12 * 2 * 12 * 16


# ============================================================================ loss and scoring
def test_loss_fn_is_cross_entropy_with_a_bits_metric():
    model = small_gpt()
    x, y = random_ids((2, 6)), random_ids((2, 6), seed=1)
    loss, metrics = loss_fn(model, {"x": x, "y": y})
    logp = jax.nn.log_softmax(model(x))
    want = -np.mean(np.take_along_axis(np.asarray(logp), np.asarray(y)[..., None], -1))
    assert float(loss) == pytest.approx(want, rel=1e-5)
    assert float(metrics["bits_per_token"]) == pytest.approx(want / math.log(2), rel=1e-5)


@pytest.mark.parametrize("stride", [1, 5, 12])
def test_token_log_probs_scores_every_token_from_its_own_past(stride):
    model = small_gpt(context=12)
    ids = np.asarray(random_ids((1, 40), seed=5))[0]
    lp = token_log_probs(model, ids, stride=stride, rows=3)
    assert lp.shape == (40,) and lp[0] == pytest.approx(-math.log(V))
    context = 12
    for t in range(1, 40):
        # the window that scored token t: the first one (start 0) if t < context, else the one
        # whose scored part [start + context - stride, start + context) holds t - 1
        if t - 1 < context:
            start = 0
        else:
            start = ((t - 1 - (context - stride)) // stride) * stride
            assert t - start >= context - stride + 1  # at least context - stride + 1 tokens of history
        history = ids[start:t]
        want = jax.nn.log_softmax(model(jnp.asarray([history]))[0, -1])[ids[t]]
        assert lp[t] == pytest.approx(float(want), abs=2e-5), t


def test_every_token_has_at_least_context_minus_stride_history():
    model = small_gpt(context=12)
    ids = np.asarray(random_ids((1, 100), seed=6))[0]
    half = token_log_probs(model, ids)  # default stride: half the context
    one = token_log_probs(model, ids, stride=1)  # the most history possible: context - 1... context
    assert np.all(np.isfinite(half)) and np.all(half <= 0)
    assert abs(half.mean() - one.mean()) < 0.5


def test_validation_bits_per_char_divides_by_characters():
    text = "abcab cab ab"
    tok = CharTokenizer.train(text)
    model = GPT(tok.vocab_size, 8, 16, 2, 1, rngs=nnx.Rngs(0))
    lp = token_log_probs(model, tok.encode(text))
    assert validation_bits_per_char(model, tok, text) == pytest.approx(-lp.sum() / math.log(2) / len(text))


def test_a_gpt_learns_a_repeating_text():
    text = "the cat sat on the mat. " * 40
    tok = CharTokenizer.train(text)
    ids = np.asarray(tok.encode(text), np.int32)

    model = GPT(tok.vocab_size, 16, 32, 4, 2, rngs=nnx.Rngs(0))
    cfg = TrainConfig(steps=150, batch_size=16, learning_rate=3e-3, progress=False, steps_per_call=50)
    history = train(model, loss_fn, TokenWindows(ids, 16, seed=0), cfg)
    assert history.losses[-1] < 0.3 * history.losses[0]
    assert validation_bits_per_char(model, tok, text[:200]) < 1.0


def test_dropout_only_while_the_engine_trains():
    """Dropout zeroes numbers in training steps only: a fresh model, the engine's evaluation and
    the model after ``fit`` are deterministic; the parameters start as without dropout."""
    text = "the cat sat on the mat. " * 40
    tok = CharTokenizer.train(text)
    ids = np.asarray(tok.encode(text), np.int32)
    from llmcourse.training import Trainer

    plain = GPT(tok.vocab_size, 16, 32, 4, 2, rngs=nnx.Rngs(0))
    model = GPT(tok.vocab_size, 16, 32, 4, 2, dropout=0.5, rngs=nnx.Rngs(0))
    window = jnp.asarray(ids[None, :16])
    assert np.array_equal(model(window), plain(window))  # same start, and no dropout outside training
    cfg = TrainConfig(steps=4, batch_size=8, learning_rate=1e-3, progress=False)
    trainer = Trainer(model, loss_fn, cfg)
    batch = {"x": window, "y": jnp.asarray(ids[None, 1:17])}
    assert trainer.evaluate(batch)["loss"] == pytest.approx(float(loss_fn(plain, batch)[0]), rel=1e-5)  # evaluation: no dropout
    history = trainer.fit(TokenWindows(ids, 16, seed=0))
    plain_history = train(plain, loss_fn, TokenWindows(ids, 16, seed=0), cfg)
    assert history.losses[0] > plain_history.losses[0]  # half the numbers zeroed: a worse first step
    assert np.array_equal(model(window), model(window))  # back to deterministic after fit
    assert model.dropout.deterministic
    # a new mask every time: 4 steps x (the embeddings + attention and MLP of 2 blocks) draws
    assert int(model.dropout.rngs.count[...]) == 4 * (1 + 2 * 2)


def test_dropout_must_be_a_share():
    for bad in (-0.1, 1.0, "0.1", None):
        with pytest.raises(TransformerError, match=r"dropout is the share .* in \[0, 1\)"):
            GPT(V, 8, 16, 2, dropout=bad, rngs=nnx.Rngs(0))


# ============================================================================ errors
def test_d_model_not_divisible_by_heads_is_a_clear_error():
    with pytest.raises(TransformerError, match=r"d_model=30 is not divisible by n_heads=4.*divisors of d_model"):
        MultiHeadAttention(30, 4, rngs=nnx.Rngs(0))
    with pytest.raises(TransformerError, match="not divisible by n_heads"):
        GPT(V, 8, d_model=30, n_heads=4, rngs=nnx.Rngs(0))


def test_a_prompt_longer_than_the_context_is_a_clear_error():
    model = small_gpt(context=12)
    with pytest.raises(TransformerError, match=r"13 tokens but the model's context holds 12"):
        model(random_ids((1, 13)))
    with pytest.raises(TransformerError, match=r"13 tokens but the model's context holds 12"):
        model.prefill(random_ids((1, 13)), model.init_cache(1))
    with pytest.raises(GenerationError, match=r"prompt has 13 tokens but the model's context holds 12"):
        generation.generate_cached(model, list(range(13)), 1, use_greedy=True)


@pytest.mark.parametrize("field", ["vocab_size", "context_length", "d_model", "n_heads", "n_layers", "mlp_ratio"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_sizes(field, bad):
    sizes = {"vocab_size": V, "context_length": 8, "d_model": 16, "n_heads": 2, "n_layers": 1, "mlp_ratio": 4}
    sizes[field] = bad
    with pytest.raises(TransformerError, match=f"{field} must be a positive integer"):
        GPT(**sizes, rngs=nnx.Rngs(0))


def test_other_errors():
    with pytest.raises(TransformerError, match="unknown positions 'rotary'"):
        GPT(V, 8, 16, 2, positions="rotary", rngs=nnx.Rngs(0))
    with pytest.raises(TransformerError, match="even d_model"):
        GPT(V, 8, 15, 3, positions="sinusoidal", rngs=nnx.Rngs(0))
    with pytest.raises(TransformerError, match="even"):
        sinusoidal_positions(4, 5)
    model = small_gpt()
    with pytest.raises(TransformerError, match=r"shape \(batch, time\)"):
        model(jnp.zeros((4,), jnp.int32))
    with pytest.raises(TransformerError, match="zero tokens"):
        model(jnp.zeros((1, 0), jnp.int32))
    with pytest.raises(TransformerError, match="stride must be an int in 1..context_length=12"):
        token_log_probs(model, [1, 2, 3], stride=13)
    with pytest.raises(TransformerError, match="empty text"):
        token_log_probs(model, [])
    with pytest.raises(GenerationError, match="needs a jax.random key"):
        generation.generate_cached(model, [1], 3)
    with pytest.raises(GenerationError, match="at least one token"):
        generation.generate_cached(model, [], 3, use_greedy=True)
    with pytest.raises(GenerationError, match="n_tokens must be an int >= 0"):
        generation.generate_cached(model, [1], -1, use_greedy=True)
    with pytest.raises(GenerationError, match="temperature must be"):
        generation.generate_cached(model, [1], 2, key=jax.random.key(0), temperature=0)
    with pytest.raises(GenerationError, match="top_p must be"):
        generation.generate_cached(model, [1], 2, key=jax.random.key(0), top_p=1.5)
