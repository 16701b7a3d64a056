"""``llmcourse.models.rnn``: the vanilla cell against its formula, the scan against a Python loop,
GRU/LSTM shapes and carries, the loss, the windows, scoring a text, generation, and every bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from llmcourse import generation
from llmcourse.data import TokenWindows
from llmcourse.metrics import bits_per_char, validation_bits_per_char
from llmcourse.models.rnn import (
    CELL_TYPES,
    CharRNN,
    NextLogits,
    VanillaRNNCell,
    char_lm_loss,
    char_log_probs,
    hidden_of,
    make_cell,
    parameter_count,
    run_cell,
    zero_carry,
)
from llmcourse.tokenizers import CharTokenizer
from llmcourse.training import TrainConfig, train

V = 23


def random_ids(shape, seed=0, vocab=V):
    return jnp.asarray(np.random.default_rng(seed).integers(0, vocab, size=shape), dtype=jnp.int32)


def small_model(cell="lstm", hidden=12, embed=5, seed=0):
    return CharRNN(V, hidden, cell=cell, embed_dim=embed, rngs=nnx.Rngs(seed))


# =========================================================================== the vanilla cell
def test_vanilla_cell_is_its_formula():
    cell = VanillaRNNCell(4, 6, rngs=nnx.Rngs(1))
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    h = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
    W, U, b = (np.asarray(v[...], np.float64) for v in (cell.input_weights, cell.recurrent_weights, cell.bias))
    new, out = cell(jnp.asarray(h), jnp.asarray(x))
    expected = np.tanh(x @ W + h @ U + b)
    np.testing.assert_allclose(np.asarray(new), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(new), np.asarray(out))  # carry and output are both h
    assert new.shape == (3, 6)


def test_vanilla_cell_initialisation():
    cell = VanillaRNNCell(8, 16, rngs=nnx.Rngs(0))
    U = np.asarray(cell.recurrent_weights[...])
    np.testing.assert_allclose(U.T @ U, np.eye(16), atol=1e-5)  # orthogonal: keeps lengths
    assert np.all(np.asarray(cell.bias[...]) == 0)
    assert cell.input_weights[...].shape == (8, 16)


# =========================================================================== the scan = the loop
@pytest.mark.parametrize("kind", CELL_TYPES)
def test_scan_equals_python_loop(kind):
    cell = make_cell(kind, 5, 7, rngs=nnx.Rngs(2))
    inputs = jax.random.normal(jax.random.key(0), (3, 11, 5))  # (batch, time, features)
    carry0 = zero_carry(kind, 3, 7)
    carry, hidden = run_cell(cell, carry0, inputs)
    loop_carry, loop_hidden = carry0, []
    for t in range(inputs.shape[1]):
        loop_carry, h = cell(loop_carry, inputs[:, t])
        loop_hidden.append(h)
    np.testing.assert_allclose(np.asarray(hidden), np.asarray(jnp.stack(loop_hidden, axis=1)), rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(loop_carry)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert hidden.shape == (3, 11, 7)


def test_scan_of_the_vanilla_cell_is_the_written_out_recurrence():
    cell = VanillaRNNCell(2, 3, rngs=nnx.Rngs(4))
    W, U, b = (np.asarray(v[...], np.float64) for v in (cell.input_weights, cell.recurrent_weights, cell.bias))
    xs = np.random.default_rng(5).normal(size=(1, 6, 2))
    h = np.zeros((1, 3))
    for t in range(6):
        h = np.tanh(xs[:, t] @ W + h @ U + b)
    _, hidden = run_cell(cell, jnp.zeros((1, 3)), jnp.asarray(xs, jnp.float32))
    np.testing.assert_allclose(np.asarray(hidden[:, -1]), h, rtol=1e-5, atol=1e-6)


# =========================================================================== GRU / LSTM shapes and carries
@pytest.mark.parametrize("kind", CELL_TYPES)
def test_model_shapes_and_carries(kind):
    model = small_model(kind)
    ids = random_ids((4, 9))
    logits, carry = model.run(ids)
    assert logits.shape == (4, 9, V)
    if kind == "lstm":
        c, h = carry
        assert c.shape == h.shape == (4, 12)
    else:
        assert carry.shape == (4, 12)
    assert hidden_of(kind, carry).shape == (4, 12)
    assert model(ids).shape == (4, 9, V)
    assert model.first_logits().shape == (V,)


@pytest.mark.parametrize("kind", CELL_TYPES)
def test_feeding_in_pieces_equals_feeding_whole(kind):
    model = small_model(kind, seed=3)
    ids = random_ids((2, 15), seed=1)
    whole, _ = model.run(ids)
    first, carry = model.run(ids[:, :6])
    second, _ = model.run(ids[:, 6:], carry)
    np.testing.assert_allclose(np.asarray(jnp.concatenate([first, second], axis=1)), np.asarray(whole),
                               rtol=1e-5, atol=1e-5)


def test_cells_come_from_flax_and_the_lstm_forget_bias_starts_at_one():
    assert isinstance(make_cell("gru", 3, 4, rngs=nnx.Rngs(0)), nnx.GRUCell)
    lstm = make_cell("lstm", 3, 4, rngs=nnx.Rngs(0))
    assert isinstance(lstm, nnx.OptimizedLSTMCell)
    np.testing.assert_array_equal(np.asarray(lstm.dense_h.bias[...]), [0] * 4 + [1] * 4 + [0] * 8)


@pytest.mark.parametrize("kind, multiple", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_parameter_counts(kind, multiple):
    E, H = 5, 12
    model = small_model(kind, hidden=H, embed=E)
    assert parameter_count(model.cell) == multiple * (E * H + H * H + H)
    assert parameter_count(model) == V * E + multiple * (E * H + H * H + H) + H * V + V


def test_embeddings_start_with_unit_variance():
    model = CharRNN(300, 8, cell="rnn", embed_dim=64, rngs=nnx.Rngs(0))
    assert 0.9 < float(np.std(np.asarray(model.embed.embedding[...]))) < 1.1


# =========================================================================== loss
def test_loss_is_mean_cross_entropy_and_bits_per_char():
    model = small_model("gru")
    batch = {"x": random_ids((3, 8)), "y": random_ids((3, 8), seed=9)}
    loss, metrics = char_lm_loss(model, batch)
    logits = np.asarray(model(batch["x"]), np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_probs, np.asarray(batch["y"])[..., None], -1).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(metrics["bits_per_char"]) == pytest.approx(expected / math.log(2), rel=1e-5)


def test_all_zero_output_layer_gives_uniform_loss():
    model = small_model("rnn")
    model.out.kernel[...] = jnp.zeros_like(model.out.kernel[...])
    loss, metrics = char_lm_loss(model, {"x": random_ids((2, 5)), "y": random_ids((2, 5), 1)})
    assert float(loss) == pytest.approx(math.log(V), rel=1e-6)
    assert float(metrics["bits_per_char"]) == pytest.approx(math.log2(V), rel=1e-6)


@pytest.mark.parametrize("kind", ["rnn", pytest.param("gru", marks=pytest.mark.slow),
                                  pytest.param("lstm", marks=pytest.mark.slow)])
def test_training_lowers_the_loss(kind):
    text = "the cat sat on the mat. " * 30
    tok = CharTokenizer.train(text)
    ids = np.asarray(tok.encode(text), np.int32)
    model = CharRNN(tok.vocab_size, 16, cell=kind, embed_dim=8, rngs=nnx.Rngs(0))
    cfg = TrainConfig(steps=80, batch_size=8, learning_rate=2e-2, optimizer="adam", progress=False,
                      steps_per_call=40, log_every=40)
    history = train(model, char_lm_loss, TokenWindows(ids, 16, seed=0), cfg)
    assert history.losses[-1] < 0.5 * history.losses[0]
    assert validation_bits_per_char(model, tok, text[:100]) < 2.0


# =========================================================================== windows
def test_windows_are_shifted_by_one():
    ids = np.arange(100)
    data = TokenWindows(ids, 10, seed=0)
    batch = data.next_batch(6)
    assert batch["x"].shape == batch["y"].shape == (6, 10)
    np.testing.assert_array_equal(batch["y"][:, :-1], batch["x"][:, 1:])
    np.testing.assert_array_equal(batch["x"][:, 1:] - batch["x"][:, :-1], 1)  # consecutive characters
    assert len(data) == data.size == 90


def test_windows_are_seeded_and_cover_every_start():
    ids = np.arange(30)
    a, b = TokenWindows(ids, 5, seed=7), TokenWindows(ids, 5, seed=7)
    np.testing.assert_array_equal(a.next_batch(4)["x"], b.next_batch(4)["x"])
    stacked = a.next_batches(3, 4)
    assert stacked["x"].shape == (3, 4, 5)
    starts = TokenWindows(ids, 5, seed=1).next_batches(200, 8)["x"][..., 0]
    assert set(np.unique(starts)) == set(range(25))  # every start 0 .. len - seq_len - 1
    assert np.all(starts + 5 < 30)  # y's last character exists


def test_windows_in_order_do_not_overlap():
    data = TokenWindows(np.arange(23), 5)
    xs = np.concatenate([b["x"] for b in data.batches_in_order(2)])
    np.testing.assert_array_equal(xs[:, 0], [0, 5, 10, 15])


def test_a_window_as_long_as_the_data_allows():
    data = TokenWindows(np.arange(11), 10)
    np.testing.assert_array_equal(data.next_batch(1)["y"][0], np.arange(1, 11))


# =========================================================================== scoring a text
@pytest.mark.parametrize("kind", CELL_TYPES)
@pytest.mark.parametrize("rows, context, chunk", [(1, 0, 256), (3, 500, 7), (500, 400, 50)])
def test_char_log_probs_with_full_context_equal_one_pass(kind, rows, context, chunk):
    model = small_model(kind, seed=5)
    ids = np.asarray(random_ids(200, seed=2))
    logits, _ = model.run(jnp.asarray(ids)[None])
    log_probs = np.asarray(jax.nn.log_softmax(logits[0, :-1]))[np.arange(199), ids[1:]]
    got = char_log_probs(model, ids, rows=rows, context=context, chunk=chunk)
    assert got.shape == (200,)
    np.testing.assert_allclose(got[1:], log_probs, rtol=1e-4, atol=1e-5)
    assert got[0] == pytest.approx(float(jax.nn.log_softmax(model.first_logits())[ids[0]]), rel=1e-6)


def test_char_log_probs_with_short_context_reads_each_piece_from_its_context():
    model = small_model("lstm", seed=6)
    ids = np.asarray(random_ids(101, seed=3))
    got = char_log_probs(model, ids, rows=4, context=3, chunk=8)  # spans of 25 targets
    # target 26 (the first of the second span) is predicted after reading inputs 22..25 only
    logits, _ = model.run(jnp.asarray(ids[22:26])[None])
    assert got[26] == pytest.approx(float(jax.nn.log_softmax(logits[0, -1])[ids[26]]), rel=1e-5)
    assert np.all(got <= 0) and np.all(np.isfinite(got))


def test_first_character_is_predicted_from_the_output_bias():
    model = small_model("gru")
    np.testing.assert_allclose(np.asarray(model.first_logits()), np.asarray(model.out.bias[...]))
    assert char_log_probs(model, [4]).shape == (1,)


def test_validation_bits_count_every_character_and_unknown_ones():
    text = "abcab cab ab"
    tok = CharTokenizer.train(text)
    model = CharRNN(tok.vocab_size, 6, cell="rnn", embed_dim=3, rngs=nnx.Rngs(0))
    lp = char_log_probs(model, tok.encode(text))
    assert validation_bits_per_char(model, tok, text) == pytest.approx(-lp.sum() / math.log(2) / len(text))
    unseen = "abz?"  # 'z' and '?' are <unk> (id 0), predicted like any other character
    assert tok.encode(unseen)[2:] == [0, 0]
    lp = char_log_probs(model, tok.encode(unseen))
    assert lp.shape == (4,) and np.all(np.isfinite(lp))
    assert validation_bits_per_char(model, tok, unseen) == pytest.approx(bits_per_char(lp))


# =========================================================================== generation
@pytest.mark.parametrize("kind", CELL_TYPES)
def test_next_logits_equals_reading_the_whole_text(kind):
    model = small_model(kind, seed=8)
    ids = np.asarray(random_ids(12, seed=4))
    next_logits = NextLogits(model)
    np.testing.assert_allclose(np.asarray(next_logits(ids[:0])), np.asarray(model.first_logits()))
    for n in (3, 4, 9, 12):  # grows one piece at a time
        full, _ = model.run(jnp.asarray(ids[:n])[None])
        np.testing.assert_allclose(np.asarray(next_logits(ids[:n])), np.asarray(full[0, -1]), rtol=1e-5, atol=1e-5)
    other = ids[::-1].copy()  # not a continuation: read from the start
    full, _ = model.run(jnp.asarray(other)[None])
    np.testing.assert_allclose(np.asarray(next_logits(other)), np.asarray(full[0, -1]), rtol=1e-5, atol=1e-5)


def test_generation_with_temperature_is_seeded():
    model = small_model("lstm")
    a = generation.generate(NextLogits(model), [1, 2, 3], 20, key=jax.random.key(0), temperature=0.7)
    b = generation.generate(NextLogits(model), [1, 2, 3], 20, key=jax.random.key(0), temperature=0.7)
    c = generation.generate(NextLogits(model), [1, 2, 3], 20, key=jax.random.key(1), temperature=0.7)
    assert a == b and len(a) == 23 and a[:3] == [1, 2, 3] and a != c
    greedy = generation.generate(NextLogits(model), [1, 2, 3], 5, use_greedy=True)
    assert greedy[3] == int(np.argmax(np.asarray(model.run(jnp.asarray([[1, 2, 3]]))[0][0, -1])))


# =========================================================================== gradients through time
def _gradients(model, ids):
    from llmcourse.experiments.recurrent import gradient_by_distance

    return gradient_by_distance(model, {"x": ids[:, :-1], "y": ids[:, 1:]})


def test_without_recurrent_weights_only_the_last_input_matters():
    model = small_model("rnn")
    model.cell.recurrent_weights[...] = jnp.zeros_like(model.cell.recurrent_weights[...])
    g = _gradients(model, random_ids((4, 13)))
    assert g.shape == (12,)
    assert g[0] > 0 and np.all(g[1:] == 0)


def test_small_recurrent_weights_make_the_gradient_vanish_geometrically():
    model = small_model("rnn", hidden=16)
    model.cell.recurrent_weights[...] = 0.3 * model.cell.recurrent_weights[...]
    g = _gradients(model, random_ids((8, 31)))
    assert np.all(np.diff(g[:15]) < 0)  # every step back, smaller
    assert g[20] < 1e-8 * g[0]


# =========================================================================== bad input
@pytest.mark.parametrize("hidden", [0, -1, 2.5, True, "8", None])
def test_hidden_size_below_one_is_a_clear_error(hidden):
    with pytest.raises(ValueError, match=r"hidden must be a positive integer"):
        CharRNN(V, hidden, cell="lstm", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"hidden must be a positive integer"):
        make_cell("rnn", 4, hidden, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("field", ["vocab_size", "embed_dim"])
def test_other_sizes_below_one_are_clear_errors(field):
    kwargs = {"vocab_size": V, "hidden": 4, "embed_dim": 3, field: 0}
    with pytest.raises(ValueError, match=f"{field} must be a positive integer"):
        CharRNN(kwargs.pop("vocab_size"), kwargs.pop("hidden"), rngs=nnx.Rngs(0), **kwargs)


@pytest.mark.parametrize("cell", ["transformer", "LSTM", "", None])
def test_unknown_cell_type_is_a_clear_error(cell):
    with pytest.raises(ValueError, match=r"unknown cell type .*'rnn', 'gru', 'lstm'"):
        CharRNN(V, 4, cell=cell, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="unknown cell type"):
        make_cell(cell, 3, 4, rngs=nnx.Rngs(0))


def test_sequence_longer_than_the_data_is_a_clear_error():
    with pytest.raises(ValueError, match=r"seq_len=64 is longer than the data allows: .* 65 tokens and the text has 50"):
        TokenWindows(np.arange(50), 64)
    with pytest.raises(ValueError, match="longer than the data"):
        TokenWindows(np.arange(10), 10)  # a window needs seq_len + 1 characters
    for bad in (0, -3, 2.0):
        with pytest.raises(ValueError, match="seq_len must be a positive integer"):
            TokenWindows(np.arange(50), bad)


def test_ids_of_the_wrong_shape_are_a_clear_error():
    with pytest.raises(ValueError, match=r"shape \(batch, time\), got shape \(7,\)"):
        small_model("gru")(jnp.arange(7))


def test_scoring_bad_settings_are_clear_errors():
    model = small_model("rnn")
    with pytest.raises(ValueError, match="empty text"):
        char_log_probs(model, [])
    with pytest.raises(ValueError, match="rows must be a positive integer"):
        char_log_probs(model, [1, 2, 3], rows=0)
    with pytest.raises(ValueError, match="context must be an int >= 0"):
        char_log_probs(model, [1, 2, 3], context=-1)
