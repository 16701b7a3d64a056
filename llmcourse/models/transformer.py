r"""The transformer: self-attention, multi-head attention, positions, pre-norm blocks, a GPT.

**Scaled dot-product attention** (Vaswani et al. 2017). Every position :math:`t` of a sequence
makes three vectors from its representation :math:`x_t`: a *query* :math:`q_t = x_t W_Q` (what it
is looking for), a *key* :math:`k_t = x_t W_K` (what it offers to be found by) and a *value*
:math:`v_t = x_t W_V` (what it hands over when found). Position :math:`t` then takes a weighted
average of the values, weighted by how well its query matches each key:

.. math::

    s_{t,u} = \frac{q_t \cdot k_u}{\sqrt{d}}, \qquad
    a_{t,u} = \frac{e^{s_{t,u}}}{\sum_{u'} e^{s_{t,u'}}}, \qquad
    y_t = \sum_u a_{t,u}\, v_u,

or for all positions at once :math:`Y = \operatorname{softmax}(Q K^\top / \sqrt{d})\, V`. A
language model must not look ahead, so a **causal mask** sets :math:`s_{t,u} = -\infty` for
:math:`u > t` (weight 0). Dividing by :math:`\sqrt{d}` keeps the scores' spread independent of
the head width :math:`d`, so the softmax does not saturate as :math:`d` grows.

* ``attention`` / ``causal_mask`` — that formula, written out with shapes;
* ``MultiHeadAttention`` — :math:`h` attentions side by side on :math:`d_\text{model} / h`-wide
  slices, concatenated and mixed by an output matrix; ``decode`` is the same for one new
  position, reading the keys and values of earlier positions from a **KV cache**;
* ``sinusoidal_positions`` and learned position embeddings — attention itself ignores order;
* ``Block`` — pre-norm residual block: :math:`x + \text{attn}(\text{LN}(x))`, then
  :math:`x + \text{MLP}(\text{LN}(x))`;
* ``GPT`` — token (+ position) embedding, blocks, final norm, output layer: a decoder-only language
  model over any token ids (characters or BPE pieces); ``init_cache`` / ``prefill`` /
  ``decode_step`` are the cached path ``llmcourse.generation.generate_cached`` drives;
* ``loss_fn`` — next-token cross-entropy in the engine's form, with a bits-per-token metric;
* ``token_log_probs`` (also ``GPT.log_probs``) — what the scoreboard's measure,
  ``llmcourse.metrics.validation_bits_per_char``, needs from a ``GPT``.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

POSITIONS = ("learned", "sinusoidal")


class TransformerError(ValueError):
    """A transformer that cannot be built or called: sizes that do not fit, a text too long."""


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise TransformerError(f"{name} must be a positive integer (at least 1), got {value!r}")
    return int(value)


# =========================================================================== attention
def causal_mask(time: int) -> jax.Array:
    """(time, time) booleans, True where position ``t`` (row) may look at position ``u`` (column):
    ``u <= t``. The lower triangle, diagonal included."""
    return jnp.tril(jnp.ones((time, time), dtype=bool))


def attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None = None):
    r"""Scaled dot-product attention, :math:`\operatorname{softmax}(Q K^\top / \sqrt{d} + M)\, V`.

    ``q``: (..., time_q, d), ``k`` and ``v``: (..., time_k, d) — any leading axes (batch, heads).
    ``mask``: booleans broadcastable to (..., time_q, time_k), True where a query may look (the
    additive :math:`M` is 0 there and :math:`-\infty` elsewhere). Returns the outputs
    (..., time_q, d) and the attention weights (..., time_q, time_k), each row summing to 1.
    """
    d = q.shape[-1]
    scores = q @ jnp.swapaxes(k, -1, -2) / math.sqrt(d)  # (..., time_q, time_k)
    if mask is not None:
        # the most negative float rather than -inf: exp() gives exactly 0 all the same, and a row
        # that is entirely masked would give 0/0 = NaN with -inf
        scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
    weights = jax.nn.softmax(scores, axis=-1)  # (..., time_q, time_k)
    return weights @ v, weights  # (..., time_q, d)


class MultiHeadAttention(nnx.Module):
    r"""Causal multi-head self-attention.

    One matrix makes the queries, keys and values of all heads at once (``qkv``: ``d_model`` →
    ``3 d_model``); they are cut into ``n_heads`` heads of width ``head_dim = d_model / n_heads``,
    each head attends on its own, and ``out`` mixes the concatenated results:

    .. math:: \text{MHA}(X) = [\,\text{head}_1; \dots; \text{head}_h\,]\, W_O, \qquad
              \text{head}_i = \operatorname{softmax}\!\Big(\frac{Q_i K_i^\top}{\sqrt{d/h}} + M\Big) V_i
    """

    def __init__(self, d_model: int, n_heads: int, *, rngs: nnx.Rngs, out_init_scale: float = 1.0):
        d_model, n_heads = _positive_int("d_model", d_model), _positive_int("n_heads", n_heads)
        if d_model % n_heads:
            raise TransformerError(
                f"d_model={d_model} is not divisible by n_heads={n_heads}: every head gets d_model / n_heads "
                f"numbers. Choose n_heads among the divisors of d_model, e.g. {_divisors(d_model)}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.qkv = nnx.Linear(d_model, 3 * d_model, rngs=rngs)
        self.out = nnx.Linear(d_model, d_model, rngs=rngs,
                              kernel_init=nnx.initializers.variance_scaling(out_init_scale, "fan_in", "normal"))

    def split_heads(self, x: jax.Array) -> jax.Array:
        batch, time, _ = x.shape
        return x.reshape(batch, time, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)  # (batch, heads, time, head_dim)

    def merge_heads(self, y: jax.Array) -> jax.Array:
        batch, _, time, _ = y.shape
        return y.transpose(0, 2, 1, 3).reshape(batch, time, self.d_model)  # (batch, time, d_model)

    def queries_keys_values(self, x: jax.Array):
        q, k, v = jnp.split(self.qkv(x), 3, axis=-1)  # each (batch, time, d_model)
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)  # (batch, heads, time, head_dim)

    def __call__(self, x: jax.Array, return_weights: bool = False):
        # x: (batch, time, d_model)
        q, k, v = self.queries_keys_values(x)  # (batch, heads, time, head_dim)
        y, weights = attention(q, k, v, causal_mask(x.shape[1]))  # y: (batch, heads, time, head_dim)
        y = self.out(self.merge_heads(y))  # (batch, time, d_model)
        return (y, weights) if return_weights else y

    def decode(self, x: jax.Array, cache_k: jax.Array, cache_v: jax.Array, position: jax.Array):
        """One new position with a KV cache: ``x`` (batch, 1, d_model) is the token at
        ``position``; ``cache_k`` / ``cache_v`` (batch, heads, context, head_dim) hold the keys and
        values of positions ``0 .. position - 1``. The new key and value are written into the cache
        at ``position`` (``dynamic_update_slice``: in place inside a compiled loop) and the query
        attends to positions ``0 .. position``. Returns the output (batch, 1, d_model) and the cache."""
        q, k, v = self.queries_keys_values(x)  # (batch, heads, 1, head_dim)
        cache_k = jax.lax.dynamic_update_slice(cache_k, k, (0, 0, position, 0))  # (batch, heads, context, head_dim)
        cache_v = jax.lax.dynamic_update_slice(cache_v, v, (0, 0, position, 0))
        visible = jnp.arange(cache_k.shape[2]) <= position  # (context,): the past and the new position
        y, _ = attention(q, cache_k, cache_v, visible)  # (batch, heads, 1, head_dim)
        return self.out(self.merge_heads(y)), cache_k, cache_v  # (batch, 1, d_model)


def _divisors(n: int) -> list[int]:
    return [i for i in range(1, n + 1) if n % i == 0][:8]


# =========================================================================== positions
def sinusoidal_positions(length: int, d_model: int) -> jax.Array:
    r"""The fixed position code of Vaswani et al. (2017), (length, d_model):

    .. math:: P_{t, 2i} = \sin\!\big(t / 10000^{2i/d}\big), \qquad P_{t, 2i+1} = \cos\!\big(t / 10000^{2i/d}\big)

    Each pair of columns is a clock turning at its own speed, from once every :math:`2\pi` positions
    to once every :math:`2\pi \cdot 10000`; together they give every position a distinct pattern,
    and a shift by :math:`k` positions is the same rotation wherever it starts.
    """
    length, d_model = _positive_int("length", length), _positive_int("d_model", d_model)
    if d_model % 2:
        raise TransformerError(f"sinusoidal positions pair a sine with a cosine: d_model must be even, got {d_model}")
    t = jnp.arange(length, dtype=jnp.float32)[:, None]  # (length, 1)
    rate = 10000.0 ** (-jnp.arange(0, d_model, 2, dtype=jnp.float32) / d_model)  # (d_model / 2,)
    angle = t * rate  # (length, d_model / 2)
    return jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1).reshape(length, d_model)


# =========================================================================== the block
class MLP(nnx.Module):
    """Position-wise feed-forward network: ``d_model`` → ``hidden`` → GELU → ``d_model``."""

    def __init__(self, d_model: int, hidden: int, *, rngs: nnx.Rngs, out_init_scale: float = 1.0):
        self.up = nnx.Linear(d_model, hidden, rngs=rngs)
        self.down = nnx.Linear(hidden, d_model, rngs=rngs,
                               kernel_init=nnx.initializers.variance_scaling(out_init_scale, "fan_in", "normal"))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down(jax.nn.gelu(self.up(x)))  # (batch, time, d_model)


class Block(nnx.Module):
    r"""A pre-norm transformer block:

    .. math:: x \leftarrow x + \text{MHA}(\text{LN}_1(x)), \qquad x \leftarrow x + \text{MLP}(\text{LN}_2(x))

    Attention moves information *between* positions; the MLP works on each position alone. The
    residual connections (the :math:`x +`) give every block an identity path, so a deep stack
    starts close to the identity and gradients reach the first layer unweakened.
    """

    def __init__(self, d_model: int, n_heads: int, mlp_hidden: int, *, rngs: nnx.Rngs, out_init_scale: float = 1.0):
        self.norm1 = nnx.LayerNorm(d_model, rngs=rngs)
        self.attn = MultiHeadAttention(d_model, n_heads, rngs=rngs, out_init_scale=out_init_scale)
        self.norm2 = nnx.LayerNorm(d_model, rngs=rngs)
        self.mlp = MLP(d_model, mlp_hidden, rngs=rngs, out_init_scale=out_init_scale)

    def __call__(self, x: jax.Array, return_weights: bool = False, dropout=None):
        """``dropout``: the model's ``nnx.Dropout``, applied to each branch before it is added."""
        drop = dropout or (lambda y: y)
        a, weights = self.attn(self.norm1(x), return_weights=True)  # (batch, time, d_model)
        x = x + drop(a)
        x = x + drop(self.mlp(self.norm2(x)))
        return (x, weights) if return_weights else x

    def prefill(self, x: jax.Array):
        """``__call__`` on a prompt (no dropout), also returning the keys and values it computed,
        (batch, heads, time, head_dim) each, for the KV cache."""
        q, k, v = self.attn.queries_keys_values(self.norm1(x))  # (batch, heads, time, head_dim)
        y, _ = attention(q, k, v, causal_mask(x.shape[1]))
        x = x + self.attn.out(self.attn.merge_heads(y))
        return x + self.mlp(self.norm2(x)), k, v

    def decode(self, x: jax.Array, cache_k, cache_v, position):
        a, cache_k, cache_v = self.attn.decode(self.norm1(x), cache_k, cache_v, position)
        x = x + a
        return x + self.mlp(self.norm2(x)), cache_k, cache_v


# =========================================================================== the model
class GPT(nnx.Module):
    """A decoder-only transformer language model.

    ``model(ids)`` maps token ids (batch, time), ``time <= context_length``, to logits
    (batch, time, vocab_size): position ``t``'s scores are the guess for the token after
    ``ids[:, t]``, made from ``ids[:, :t + 1]`` only (the causal mask).

    ``positions``: ``"learned"`` (a trained vector per position, as in GPT-2) or ``"sinusoidal"``
    (the fixed code of ``sinusoidal_positions``). ``tie_embeddings``: the output layer reuses the
    token embedding (logits = h · Eᵀ), saving ``vocab_size × d_model`` parameters. ``dropout``:
    the share of the token vectors' numbers, and of each attention and MLP output, zeroed (and the
    rest scaled by 1 / (1 - dropout)) in training steps only: the engine's ``Trainer`` switches the
    model to ``train()`` mode while it trains and back to ``eval()``; the cached path (``prefill``,
    ``decode_step``) never drops.
    """

    def __init__(self, vocab_size: int, context_length: int, d_model: int = 128, n_heads: int = 4,
                 n_layers: int = 4, mlp_ratio: int = 4, *, positions: str = "learned",
                 tie_embeddings: bool = True, dropout: float = 0.0, rngs: nnx.Rngs):
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        self.context_length = _positive_int("context_length", context_length)
        self.d_model = _positive_int("d_model", d_model)
        self.n_heads = _positive_int("n_heads", n_heads)
        self.n_layers = _positive_int("n_layers", n_layers)
        mlp_ratio = _positive_int("mlp_ratio", mlp_ratio)
        if positions not in POSITIONS:
            raise TransformerError(f"unknown positions {positions!r}; choose one of {', '.join(map(repr, POSITIONS))}")
        if d_model % n_heads:  # said here too, before any weights are made
            MultiHeadAttention(d_model, n_heads, rngs=rngs)
        if positions == "sinusoidal" and d_model % 2:
            raise TransformerError(f"sinusoidal positions need an even d_model, got {d_model}")
        self.positions, self.tie_embeddings = positions, bool(tie_embeddings)
        embed_init = nnx.initializers.normal(0.02)
        self.embed = nnx.Embed(vocab_size, d_model, embedding_init=embed_init, rngs=rngs)
        if positions == "learned":
            self.position_embed = nnx.Embed(context_length, d_model, embedding_init=embed_init, rngs=rngs)
        # residual branches start small (GPT-2): the sum of 2 n_layers branches keeps its scale
        scale = 1.0 / (2 * n_layers)
        self.blocks = nnx.List([Block(d_model, n_heads, mlp_ratio * d_model, rngs=rngs, out_init_scale=scale)
                                for _ in range(n_layers)])
        self.final_norm = nnx.LayerNorm(d_model, rngs=rngs)
        if not tie_embeddings:
            self.unembed = nnx.Linear(d_model, vocab_size, rngs=rngs)
        if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
            raise TransformerError(f"dropout is the share of numbers zeroed in training: a number in [0, 1), got {dropout!r}")
        # made last, so the parameters start the same with or without it; off (deterministic)
        # except while the engine trains the model (``Trainer`` calls ``model.train()``)
        self.dropout = nnx.Dropout(dropout, deterministic=True, rngs=rngs) if dropout else None

    # -- pieces shared by the full and the cached path
    def _check_ids(self, ids) -> jax.Array:
        ids = jnp.asarray(ids)
        if ids.ndim != 2:
            raise TransformerError(f"GPT expects token ids of shape (batch, time), got shape {tuple(ids.shape)}")
        if ids.shape[1] > self.context_length:
            raise TransformerError(
                f"the text has {ids.shape[1]} tokens but the model's context holds {self.context_length}: "
                f"it has position embeddings for {self.context_length} positions only. Keep the last "
                f"{self.context_length} tokens (ids[:, -{self.context_length}:])")
        if ids.shape[1] == 0:
            raise TransformerError("cannot run the model on zero tokens")
        return ids

    def position_code(self, start, length: int) -> jax.Array:
        """The position vectors of positions ``start .. start + length - 1``, (length, d_model)."""
        if self.positions == "learned":
            return self.position_embed(start + jnp.arange(length))
        table = sinusoidal_positions(self.context_length, self.d_model)
        return jax.lax.dynamic_slice_in_dim(table, start, length, axis=0)

    def _logits(self, h: jax.Array) -> jax.Array:
        h = self.final_norm(h)
        return self.embed.attend(h) if self.tie_embeddings else self.unembed(h)  # (batch, time, vocab_size)

    # -- the full (training) path
    def log_probs(self, ids, **scoring) -> np.ndarray:
        """``token_log_probs(self, ids, **scoring)``: the log-probability of every token of ``ids``."""
        return token_log_probs(self, ids, **scoring)

    def __call__(self, ids: jax.Array, return_attention: bool = False):
        ids = self._check_ids(ids)
        x = self.embed(ids) + self.position_code(0, ids.shape[1])  # (batch, time, d_model)
        if self.dropout is not None:
            x = self.dropout(x)
        weights = []
        for block in self.blocks:
            x, w = block(x, return_weights=True, dropout=self.dropout)  # w: (batch, heads, time, time)
            weights.append(w)
        logits = self._logits(x)  # (batch, time, vocab_size)
        return (logits, jnp.stack(weights, axis=1)) if return_attention else logits  # weights: (batch, layers, heads, time, time)

    # -- the cached (generation) path
    def init_cache(self, batch: int = 1) -> dict:
        """An empty KV cache: for every layer, keys and values of all ``context_length`` positions,
        ``{"k": [...], "v": [...]}`` with one (batch, heads, context, head_dim) array of zeros per
        layer. Allocated once, at full length; generation writes one position per step into it."""
        shape = (_positive_int("batch", batch), self.n_heads, self.context_length, self.d_model // self.n_heads)
        return {"k": [jnp.zeros(shape) for _ in self.blocks], "v": [jnp.zeros(shape) for _ in self.blocks]}

    def prefill(self, ids: jax.Array, cache: dict):
        """Read a prompt (batch, time) in one parallel pass, writing its keys and values into
        positions ``0 .. time - 1`` of ``cache``. Returns the logits after the last prompt token
        (batch, vocab_size) and the cache."""
        ids = self._check_ids(ids)
        x = self.embed(ids) + self.position_code(0, ids.shape[1])  # (batch, time, d_model)
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            x, k, v = block.prefill(x)  # k, v: (batch, heads, time, head_dim)
            keys.append(jax.lax.dynamic_update_slice(cache["k"][layer], k, (0, 0, 0, 0)))
            values.append(jax.lax.dynamic_update_slice(cache["v"][layer], v, (0, 0, 0, 0)))
        return self._logits(x[:, -1:])[:, 0], {"k": keys, "v": values}

    def decode_step(self, token: jax.Array, position: jax.Array, cache: dict):
        """One generation step: the token (batch,) at ``position`` in, the logits for the next
        token (batch, vocab_size) out. Only the new position is computed; the keys and values of
        the earlier positions come from ``cache``, which gets this position's written in."""
        x = self.embed(token[:, None]) + self.position_code(position, 1)  # (batch, 1, d_model)
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            x, k, v = block.decode(x, cache["k"][layer], cache["v"][layer], position)
            keys.append(k)
            values.append(v)
        return self._logits(x)[:, 0], {"k": keys, "v": values}


def parameter_count(model: nnx.Module) -> int:
    """Number of trained numbers (``nnx.Param`` entries) in ``model``."""
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def flops_per_token(model: GPT, seq_len: int | None = None) -> float:
    r"""Training FLOPs per token, :math:`6N + 12\, L\, T\, d_\text{model}` (the count of the PaLM
    paper, Chowdhery et al. 2022, appendix B).

    :math:`N` counts the weights that multiply every token: all parameters except the lookup
    tables (the position table, and the token table unless it is tied to the output layer, where
    it is a product). The forward pass costs :math:`2N` (a multiply and an add per weight) plus,
    per layer, :math:`2\,T\,d_\text{model}` for the scores :math:`QK^\top` and as much for
    :math:`AV` — the full :math:`T \times T` square, as the code computes it, masked half
    included. The backward pass costs twice the forward: :math:`3\,(2N + 4LTd_\text{model})`.
    """
    seq_len = model.context_length if seq_len is None else _positive_int("seq_len", seq_len)
    n = parameter_count(model)
    if model.positions == "learned":
        n -= model.context_length * model.d_model
    if not model.tie_embeddings:
        n -= model.vocab_size * model.d_model
    return 6.0 * n + 12.0 * model.n_layers * seq_len * model.d_model


# =========================================================================== training
def loss_fn(model: GPT, batch):
    r"""Mean next-token cross-entropy in nats over a batch ``{"x": ids, "y": next ids}`` (both
    (batch, time)), in the engine's form ``(loss, metrics)``. The metric ``bits_per_token`` is the
    same number in bits, :math:`H / \ln 2` (for a character model, bits per character;
    ``llmcourse.metrics.validation_bits_per_char`` divides a text's bits by its characters whatever the tokens)."""
    logits = model(batch["x"])  # (batch, time, vocab_size)
    nats = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
    return nats, {"bits_per_token": nats / math.log(2)}


# =========================================================================== scoring a text
def token_log_probs(model: GPT, ids, stride: int | None = None, rows: int = 32) -> np.ndarray:
    r"""The natural-log probability the model gives each token of ``ids`` (shape (n,)), each
    predicted from the tokens before it.

    A GPT sees at most ``context_length`` tokens, so the text is read in windows of that length
    that start every ``stride`` tokens (default: half the context). Each window scores only its
    last ``stride`` positions, which have at least ``context_length - stride`` tokens of history
    (the first window scores all its positions). The first token has no history at all; a GPT
    without a start symbol cannot predict it, so it is scored by the uniform guess :math:`1/V`.
    """
    ids = np.asarray(ids, dtype=np.int32).reshape(-1)
    n, context = len(ids), model.context_length
    stride = context // 2 or 1 if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= context:
        raise TransformerError(f"stride must be an int in 1..context_length={context}, got {stride!r}")
    _positive_int("rows", rows)
    if n == 0:
        raise TransformerError("cannot score an empty text")
    out = np.empty(n, dtype=np.float64)
    out[0] = -math.log(model.vocab_size)
    if n == 1:
        return out
    # window w reads inputs ids[s : s + context] (s = w * stride) and predicts ids[s + 1 : s + context + 1]
    starts = np.arange(0, max(n - 1 - context, 0) + stride, stride)
    starts = starts[starts < n - 1]
    position = starts[:, None] + np.arange(context)  # (windows, context) input positions
    valid = position + 1 < n
    scored = valid & ((position >= starts[:, None] + context - stride) | (starts[:, None] == 0))
    inputs = ids[np.minimum(position, n - 1)]
    targets = ids[np.minimum(position + 1, n - 1)]
    graphdef, state = nnx.split(model)
    for r0 in range(0, len(starts), rows):
        sl = slice(r0, r0 + rows)
        pad = rows - len(starts[sl])  # a whole batch every time: one compiled shape
        x = np.pad(inputs[sl], ((0, pad), (0, 0)))
        y = np.pad(targets[sl], ((0, pad), (0, 0)))
        lp = np.asarray(_score(graphdef, state, x, y))[: rows - pad]
        mask = scored[sl]
        out[position[sl][mask] + 1] = lp[mask]
    return out


@partial(jax.jit, static_argnums=0)
def _score(graphdef, state, x, y):
    logits = nnx.merge(graphdef, state)(x)  # (rows, context, vocab_size)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(log_probs, y[..., None], axis=-1)[..., 0]
