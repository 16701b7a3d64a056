r"""Recurrent neural networks: a hidden state carried from one character to the next.

A recurrent neural network reads a sequence one element at a time and keeps a **hidden state**
:math:`h_t`, a vector that sums up everything read so far. The vanilla (Elman) RNN updates it with
one formula, applied with the *same* weights at every time step:

.. math:: h_t = \tanh(W x_t + U h_{t-1} + b), \qquad h_0 = 0

and a character language model reads the next character's scores off the hidden state,
:math:`z_t = V h_t + c` (logits over the vocabulary). In code the vectors are rows, so the same
step reads ``tanh(x @ W + h @ U + b)`` for a whole batch at once.

* ``VanillaRNNCell`` — that step, written out; the GRU (Cho et al. 2014) and the LSTM
  (Hochreiter & Schmidhuber 1997) come from Flax (``nnx.GRUCell``, ``nnx.OptimizedLSTMCell``)
  and have the same interface, ``cell(carry, x_t) -> (carry, h_t)``.
* ``run_cell`` — the step unrolled over time with ``jax.lax.scan``.
* ``CharRNN`` — embedding → cell scanned over time → output layer: a character language model.
* ``char_lm_loss`` — mean cross-entropy of the next character, in the engine's form.
* ``char_log_probs`` (also ``CharRNN.log_probs``) — what the scoreboard's measure,
  ``llmcourse.metrics.validation_bits_per_char``, needs from a ``CharRNN``.
* ``NextLogits`` — the model as ``llmcourse.generation.generate`` wants it, reading each
  character once.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

CELL_TYPES = ("rnn", "gru", "lstm")


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer (at least 1), got {value!r}")
    return int(value)


# =========================================================================== the cells
class VanillaRNNCell(nnx.Module):
    r"""The vanilla (Elman) recurrent cell: one step of

    .. math:: h_t = \tanh(W x_t + U h_{t-1} + b)

    ``input_weights`` is :math:`W` (stored as ``(in_features, hidden)``), ``recurrent_weights`` is
    :math:`U` (``(hidden, hidden)``), ``bias`` is :math:`b`. :math:`W` starts with variance
    :math:`1 / \text{in\_features}`, :math:`U` as a random orthogonal matrix (it neither shrinks nor
    stretches :math:`h`), :math:`b` at zero. The carry is :math:`h` itself, and the output is the
    new :math:`h` too: ``cell(h, x) -> (h, h)``, the interface of Flax's recurrent cells.
    """

    def __init__(self, in_features: int, hidden_features: int, *, rngs: nnx.Rngs):
        self.in_features = _positive_int("in_features", in_features)
        self.hidden_features = _positive_int("hidden", hidden_features)
        self.input_weights = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (in_features, hidden_features)))
        self.recurrent_weights = nnx.Param(nnx.initializers.orthogonal()(rngs.params(), (hidden_features, hidden_features)))
        self.bias = nnx.Param(jnp.zeros((hidden_features,)))

    def __call__(self, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        # x: (batch, in_features), h: (batch, hidden)
        h = jnp.tanh(x @ self.input_weights + h @ self.recurrent_weights + self.bias)  # (batch, hidden)
        return h, h


def make_cell(kind: str, in_features: int, hidden: int, *, rngs: nnx.Rngs) -> nnx.Module:
    """A recurrent cell: ``"rnn"`` (``VanillaRNNCell``), ``"gru"`` (``nnx.GRUCell``) or ``"lstm"``
    (``nnx.OptimizedLSTMCell``: the LSTM with its four gates computed in one matrix product).

    The LSTM's forget-gate bias starts at 1, not 0, so that at first the cell keeps most of its
    memory from step to step (Gers et al. 2000; Jozefowicz et al. 2015).
    """
    if kind not in CELL_TYPES:
        raise ValueError(f"unknown cell type {kind!r}; choose one of {', '.join(map(repr, CELL_TYPES))}")
    hidden = _positive_int("hidden", hidden)
    in_features = _positive_int("in_features", in_features)
    if kind == "rnn":
        return VanillaRNNCell(in_features, hidden, rngs=rngs)
    if kind == "gru":
        return nnx.GRUCell(in_features, hidden, rngs=rngs)
    cell = nnx.OptimizedLSTMCell(in_features, hidden, rngs=rngs)
    # the gates are (input, forget, candidate, output), in that order, in dense_h's 4 * hidden outputs
    cell.dense_h.bias[hidden : 2 * hidden] = 1.0
    return cell


def zero_carry(kind: str, batch: int, hidden: int):
    """The initial carry, all zeros: ``h`` for ``rnn`` and ``gru``, ``(c, h)`` for ``lstm``."""
    h = jnp.zeros((batch, hidden))  # (batch, hidden)
    return (h, h) if kind == "lstm" else h


def hidden_of(kind: str, carry) -> jax.Array:
    """The hidden state ``h`` in a carry (the LSTM's carry is ``(c, h)``)."""
    return carry[1] if kind == "lstm" else carry


# =========================================================================== unrolling through time
def run_cell(cell, carry, inputs: jax.Array):
    """Unroll ``cell`` over time: the same step with the same weights at every position.

    ``inputs`` has shape (batch, time, features). Returns the last carry and every hidden state,
    (batch, time, hidden). It computes exactly what this Python loop computes::

        hidden_states = []
        for t in range(time):
            carry, h = cell(carry, inputs[:, t])
            hidden_states.append(h)

    but ``jax.lax.scan`` compiles the step once, as a loop, instead of ``time`` copies of it.
    """

    def step(carry, x_t):  # x_t: (batch, features)
        carry, h_t = cell(carry, x_t)  # h_t: (batch, hidden)
        return carry, h_t

    carry, hidden_states = jax.lax.scan(step, carry, jnp.swapaxes(inputs, 0, 1))  # (time, batch, hidden)
    return carry, jnp.swapaxes(hidden_states, 0, 1)  # (batch, time, hidden)


# =========================================================================== the language model
class CharRNN(nnx.Module):
    """A character language model: embedding → recurrent cell over time → output layer.

    ``model(ids)`` maps ``ids`` of shape (batch, time) to logits (batch, time, vocab_size): the
    scores at position ``t`` are the model's guess for the character *after* ``ids[:, t]``, having
    read ``ids[:, :t + 1]``. ``cell`` is ``"rnn"``, ``"gru"`` or ``"lstm"``.
    """

    def __init__(self, vocab_size: int, hidden: int = 256, *, cell: str = "lstm", embed_dim: int = 64,
                 rngs: nnx.Rngs):
        if cell not in CELL_TYPES:
            raise ValueError(f"unknown cell type {cell!r}; choose one of {', '.join(map(repr, CELL_TYPES))}")
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        self.hidden = _positive_int("hidden", hidden)
        self.embed_dim = _positive_int("embed_dim", embed_dim)
        self.kind = cell
        # unit-variance embeddings, like the one-hot vectors they stand for; with Flax's default
        # (variance 1 / embed_dim) the inputs hardly move the hidden state at first, and training
        # sits for hundreds of steps on a plateau where only the last character or two are used
        self.embed = nnx.Embed(vocab_size, embed_dim, embedding_init=nnx.initializers.normal(1.0), rngs=rngs)
        self.cell = make_cell(cell, embed_dim, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, vocab_size, rngs=rngs)

    def initial_carry(self, batch: int):
        return zero_carry(self.kind, batch, self.hidden)

    def run(self, ids: jax.Array, carry=None):
        """Logits (batch, time, vocab_size) and the carry after the last position; ``carry=None``
        starts from zeros. Feeding a text in pieces, passing the carry on, equals feeding it whole."""
        ids = jnp.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"CharRNN expects character ids of shape (batch, time), got shape {tuple(ids.shape)}")
        if carry is None:
            carry = self.initial_carry(ids.shape[0])
        x = self.embed(ids)  # (batch, time, embed_dim)
        carry, h = run_cell(self.cell, carry, x)  # h: (batch, time, hidden)
        return self.out(h), carry  # (batch, time, vocab_size)

    def __call__(self, ids: jax.Array) -> jax.Array:
        return self.run(ids)[0]

    def log_probs(self, ids, **scoring) -> np.ndarray:
        """``char_log_probs(self, ids, **scoring)``: the log-probability of every character of ``ids``."""
        return char_log_probs(self, ids, **scoring)

    def first_logits(self) -> jax.Array:
        """The scores for a text's first character, before anything is read: the output layer
        applied to the initial hidden state (zeros), shape (vocab_size,)."""
        return self.out(hidden_of(self.kind, self.initial_carry(1)))[0]


def parameter_count(model: nnx.Module) -> int:
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def char_lm_loss(model: CharRNN, batch):
    r"""Mean cross-entropy of the next character in nats, :math:`-\frac{1}{BT}\sum \ln p(y \mid
    \text{what was read})`, over a batch ``{"x": ids, "y": next ids}`` (both (batch, time)); the
    metric ``bits_per_char`` is the same number in bits (divided by :math:`\ln 2`)."""
    logits = model(batch["x"])  # (batch, time, vocab_size)
    nats = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
    return nats, {"bits_per_char": nats / math.log(2)}


# =========================================================================== scoring a text
def char_log_probs(model: CharRNN, ids, rows: int = 64, context: int = 256, chunk: int = 256) -> np.ndarray:
    r"""The natural-log probability the model gives each character of ``ids`` (shape (n,)), every
    character predicted from the characters before it.

    The first character is predicted from nothing (``first_logits``). The others are cut into
    ``rows`` spans of equal length that are read side by side, as one batch. Each span is read
    from ``context`` characters before its start (those are not scored), so every character but
    the first ``context`` of the text is predicted with at least that much history; inside a span
    the hidden state is carried from character to character, in pieces of ``chunk`` steps. (The
    models are trained on windows of a few dozen characters; they use far less than ``context``.)
    """
    ids = np.asarray(ids, dtype=np.int32).reshape(-1)
    n = len(ids)
    for name, value in (("rows", rows), ("chunk", chunk)):
        _positive_int(name, value)
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 0:
        raise ValueError(f"context must be an int >= 0, got {context!r}")
    if n == 0:
        raise ValueError("cannot score an empty text")
    out = np.zeros(n, dtype=np.float64)
    out[0] = float(jax.nn.log_softmax(model.first_logits())[ids[0]])
    if n == 1:
        return out
    # target t (1 <= t < n) is predicted after reading input t - 1. Row r scores the targets
    # starts[r] ... starts[r] + span - 1 and reads its inputs from starts[r] - 1 - context on.
    span = -(-(n - 1) // rows)
    starts = np.arange(1, n, span)  # (rows,) first target of each row
    length = -(-(context + span) // chunk) * chunk  # input positions per row, a whole number of chunks
    position = starts[:, None] - 1 - context + np.arange(length)  # (rows, length) input positions
    valid = (position >= 0) & (position < n - 1)  # inputs that exist and have a target
    scored = valid & (position + 1 >= starts[:, None]) & (position + 1 < starts[:, None] + span)
    inputs = np.where(valid, ids[np.clip(position, 0, n - 1)], 0)
    targets = np.where(valid, ids[np.clip(position + 1, 0, n - 1)], 0)

    graphdef, state = nnx.split(model)
    carry = model.initial_carry(len(starts))
    for c0 in range(0, length, chunk):
        piece = slice(c0, c0 + chunk)
        carry, log_probs = _score_chunk(graphdef, state, carry, inputs[:, piece], targets[:, piece], valid[:, piece])
        mask = scored[:, piece]
        out[position[:, piece][mask] + 1] = np.asarray(log_probs)[mask]
    return out


@partial(jax.jit, static_argnums=0)
def _score_chunk(graphdef, state, carry, inputs, targets, valid):
    model = nnx.merge(graphdef, state)
    x = model.embed(inputs)  # (rows, chunk, embed_dim)

    def step(carry, xs):
        x_t, valid_t = xs  # (rows, embed_dim), (rows,)
        new, h = model.cell(carry, x_t)
        # padding leaves the carry as it was: a row that starts before the text stays at zeros
        keep = lambda a, b: jnp.where(valid_t[:, None], a, b)  # noqa: E731
        return jax.tree.map(keep, new, carry), h

    carry, h = jax.lax.scan(step, carry, (jnp.swapaxes(x, 0, 1), jnp.swapaxes(valid, 0, 1)))
    logits = model.out(jnp.swapaxes(h, 0, 1))  # (rows, chunk, vocab_size)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return carry, jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]



# =========================================================================== generation
class NextLogits:
    """A ``CharRNN`` as the function ``llmcourse.generation.generate`` asks for,
    ``next_logits(ids) -> (vocab_size,)``.

    ``generate`` passes the whole text so far at every step. An RNN does not need to read it again:
    this object keeps the hidden state after the characters it has read and feeds only the new
    ones, so generating ``n`` characters costs ``n`` steps, not ``n²/2``. A text that does not
    continue the one it has read is read from the start.
    """

    def __init__(self, model: CharRNN):
        self.model = model
        self.graphdef, self.state = nnx.split(model)
        self.reset()

    def reset(self):
        self.seen: list[int] = []
        self.carry = self.model.initial_carry(1)
        self.logits = self.model.first_logits()

    def __call__(self, ids) -> jax.Array:
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        if ids[: len(self.seen)] != self.seen:
            self.reset()
        new = ids[len(self.seen) :]
        if new:
            self.logits, self.carry = _read(self.graphdef, self.state, self.carry, jnp.asarray([new], jnp.int32))
            self.seen = ids
        return self.logits


@partial(jax.jit, static_argnums=0)
def _read(graphdef, state, carry, ids):
    logits, carry = nnx.merge(graphdef, state).run(ids, carry)
    return logits[0, -1], carry  # (vocab_size,)
