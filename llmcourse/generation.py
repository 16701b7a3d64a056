r"""Choosing the next token from a model's logits: greedy, temperature, top-k, top-p (nucleus).

Every language model in the book — the n-gram counts of chapter 5, the RNN of chapter 7, the GPT of
chapter 8 — ends in a vector of **logits** :math:`z \in \mathbb{R}^V`, one score per token of the
vocabulary, and its next-token distribution is the softmax

.. math:: p_i = \operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{V} e^{z_j}}.

(A model that gives probabilities, such as the n-gram model, uses :math:`z = \ln p`.) The
functions here turn logits into one next token, in this order:

1. **temperature** :math:`T > 0`: :math:`z \to z / T`. :math:`T < 1` sharpens the distribution,
   :math:`T > 1` flattens it, :math:`T \to 0` approaches greedy decoding, :math:`T \to \infty`
   the uniform distribution;
2. **top-k**: keep the :math:`k` tokens with the largest logits, give the rest probability 0;
3. **top-p** (nucleus sampling, Holtzman et al. 2020): keep the smallest set of most probable
   tokens whose probabilities add up to at least :math:`p`;
4. renormalise what is kept and draw one token with ``jax.random.categorical``.

**Greedy decoding** skips the draw and takes :math:`\arg\max_i z_i`. All functions work on the
last axis, so a batch of logits ``(..., V)`` gives a batch of tokens ``(...)``. Sampling is
deterministic given its ``jax.random`` key.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


class GenerationError(ValueError):
    """A bad sampling setting: temperature <= 0, k < 1, p outside (0, 1], an empty vocabulary."""


# --------------------------------------------------------------------------- checking settings
def _check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)):
        raise GenerationError(f"temperature must be a number > 0, got {temperature!r}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise GenerationError(
            f"temperature must be a finite number > 0, got {temperature!r} "
            "(for the limit T -> 0 use greedy decoding: greedy(logits))"
        )
    return float(temperature)


def _check_top_k(k) -> int | None:
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise GenerationError(f"top_k must be an int >= 1 (or None for no limit), got {k!r}")
    return int(k)


def _check_top_p(p) -> float | None:
    if p is None:
        return None
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 < p <= 1:
        raise GenerationError(f"top_p must be a number in (0, 1] (or None for no limit), got {p!r}")
    return float(p)


def _check_logits(logits) -> jax.Array:
    logits = jnp.asarray(logits, dtype=jnp.float32)
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise GenerationError(f"logits must have a vocabulary axis of size >= 1, got shape {logits.shape}")
    return logits


# --------------------------------------------------------------------------- the pieces
def apply_temperature(logits, temperature: float = 1.0) -> jax.Array:
    r"""Divide the logits by :math:`T`: :math:`\operatorname{softmax}(z / T)`.

    Dividing by :math:`T` multiplies every gap :math:`z_i - z_j` by :math:`1 / T`, so the ratio of
    two probabilities becomes :math:`(p_i / p_j)^{1/T}`: below 1 the leader pulls ahead, above 1
    the field evens out. The order of the tokens never changes.
    """
    return _check_logits(logits) / _check_temperature(temperature)


def _top_k_mask(logits: jax.Array, k: int) -> jax.Array:
    # rank 0 = largest logit; ties are broken by position (the earlier token first), so exactly
    # min(k, V) tokens survive even when several logits are equal
    order = jnp.argsort(-logits, axis=-1, stable=True)
    rank = jnp.argsort(order, axis=-1, stable=True)
    return rank < k


def top_k_filter(logits, k: int) -> jax.Array:
    r"""Keep the :math:`k` largest logits and set the others to :math:`-\infty` (probability 0).

    Exactly :math:`\min(k, V)` tokens survive; among equal logits the earlier token wins.
    """
    return filter_logits(logits, top_k=k)


def _top_p_mask(logits: jax.Array, p: float) -> jax.Array:
    probs = jax.nn.softmax(logits, axis=-1)
    order = jnp.argsort(-logits, axis=-1, stable=True)  # most probable first
    sorted_probs = jnp.take_along_axis(probs, order, axis=-1)
    # a token is kept when the tokens ranked above it do not yet reach p: that is the smallest set
    # whose total reaches p (the most probable token is always kept)
    mass_before = jnp.cumsum(sorted_probs, axis=-1) - sorted_probs
    keep_sorted = mass_before < p
    rank = jnp.argsort(order, axis=-1, stable=True)
    return jnp.take_along_axis(keep_sorted, rank, axis=-1)


def top_p_filter(logits, p: float) -> jax.Array:
    r"""Nucleus filtering: keep the smallest set :math:`S` of most probable tokens with
    :math:`\sum_{i \in S} p_i \ge p`; set the others' logits to :math:`-\infty`.

    With the tokens sorted so that :math:`p_{(1)} \ge p_{(2)} \ge \dots`, token :math:`(r)` is kept
    when :math:`\sum_{s < r} p_{(s)} < p`. A peaked distribution keeps few tokens, a flat one many —
    unlike top-k, which keeps :math:`k` whatever the shape. ``p = 1`` keeps every token.
    """
    return filter_logits(logits, top_p=p)


@partial(jax.jit, static_argnames=("use_k", "use_p"))
def _filter(logits, temperature, k, p, use_k: bool, use_p: bool):
    z = logits / temperature
    if use_k:
        z = jnp.where(_top_k_mask(z, k), z, -jnp.inf)
    if use_p:
        z = jnp.where(_top_p_mask(z, p), z, -jnp.inf)
    return z


def filter_logits(logits, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> jax.Array:
    """Temperature, then top-k, then top-p (each optional): the logits ``sample`` draws from.

    Filtered tokens get :math:`-\\infty`. The settings are checked here, in Python, and the work
    is one compiled function (compiled once per logits shape and combination of filters).
    """
    logits = _check_logits(logits)
    temperature, top_k, top_p = _check_temperature(temperature), _check_top_k(top_k), _check_top_p(top_p)
    return _filter(logits, temperature, top_k or 1, top_p or 1.0, top_k is not None, top_p is not None)


def probabilities(logits, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> jax.Array:
    """The distribution ``sample`` draws from: softmax of ``filter_logits`` (sums to 1, zeros for
    filtered tokens)."""
    return jax.nn.softmax(filter_logits(logits, temperature, top_k, top_p), axis=-1)


def greedy(logits) -> jax.Array:
    r"""Greedy decoding: the token with the largest logit, :math:`\arg\max_i z_i` (the first on ties)."""
    return jnp.argmax(_check_logits(logits), axis=-1)


def sample(key: jax.Array, logits, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None) -> jax.Array:
    r"""Draw the next token(s) from ``probabilities(logits, temperature, top_k, top_p)``.

    ``jax.random.categorical`` draws token :math:`i` with probability
    :math:`\operatorname{softmax}(z')_i` for the filtered logits :math:`z'`. The same ``key`` gives
    the same token; split the key for every step (``jax.random.split``).
    """
    logits = _check_logits(logits)
    temperature, top_k, top_p = _check_temperature(temperature), _check_top_k(top_k), _check_top_p(top_p)
    return _draw(key, logits, temperature, top_k or 1, top_p or 1.0, top_k is not None, top_p is not None)


@partial(jax.jit, static_argnames=("use_k", "use_p"))
def _draw(key, logits, temperature, k, p, use_k: bool, use_p: bool):
    return jax.random.categorical(key, _filter(logits, temperature, k, p, use_k, use_p), axis=-1)


# --------------------------------------------------------------------------- a whole text
def generate(next_logits, prompt_ids, n_tokens: int, key: jax.Array | None = None,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             use_greedy: bool = False) -> list[int]:
    """Continue ``prompt_ids`` by ``n_tokens`` tokens, one at a time (autoregressive generation).

    ``next_logits(ids) -> (V,) logits`` is the model: given every token so far, the scores of the
    next one. Each step appends the chosen token and asks again. With ``use_greedy=True`` each step
    takes ``greedy`` and no key is needed; otherwise ``key`` is split once per step, so the output
    is the same for the same key. Returns the prompt followed by the new tokens.
    """
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, np.integer)) or n_tokens < 0:
        raise GenerationError(f"n_tokens must be an int >= 0, got {n_tokens!r}")
    _check_temperature(temperature), _check_top_k(top_k), _check_top_p(top_p)
    if not use_greedy and key is None:
        raise GenerationError("sampling needs a jax.random key (e.g. jax.random.key(0)); or pass use_greedy=True")
    ids = [int(i) for i in prompt_ids]
    keys = jax.random.split(key, max(n_tokens, 1)) if not use_greedy else None
    for step in range(n_tokens):
        logits = next_logits(np.asarray(ids, dtype=np.int64))
        if use_greedy:
            token = greedy(logits)
        else:
            token = sample(keys[step], logits, temperature, top_k, top_p)
        ids.append(int(token))
    return ids


# --------------------------------------------------------------------------- one compiled loop
def choose_token(key: jax.Array, logits: jax.Array, temperature, top_k: int | None = None,
                 top_p: float | None = None, use_greedy: bool = False) -> jax.Array:
    """The next token(s) from ``logits`` (..., V), for use *inside* compiled code: the same maths as
    ``greedy`` / ``sample`` (temperature, then top-k, then top-p, then a draw), without their
    Python-side checks — ``temperature`` may be a traced number; ``top_k``, ``top_p`` and
    ``use_greedy`` must be fixed Python values (checked with the other settings by the caller)."""
    if use_greedy:
        return jnp.argmax(logits, axis=-1)
    z = _filter(logits, temperature, top_k or 1, top_p or 1.0, top_k is not None, top_p is not None)
    return jax.random.categorical(key, z, axis=-1)


def generate_cached(model, prompt_ids, n_tokens: int, key: jax.Array | None = None,
                    temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                    use_greedy: bool = False, use_cache: bool = True) -> list[int]:
    """Continue ``prompt_ids`` by ``n_tokens`` tokens with a transformer, the whole loop one
    compiled call (``jax.lax.fori_loop``): no Python between the tokens.

    ``model`` provides ``context_length``, ``init_cache(batch)``, ``prefill(ids, cache) -> (logits,
    cache)`` and ``decode_step(token, position, cache) -> (logits, cache)``
    (``llmcourse.models.transformer.GPT`` does). With ``use_cache=True`` the prompt is read once,
    in parallel, and each new token costs one position: its key and value are written into the
    preallocated cache, and its query attends to the cached ones. With ``use_cache=False`` every
    step runs the model over the whole context again — the same tokens, much more work.

    A model sees at most ``context_length`` tokens. When the text outgrows it, the model re-reads
    the last half of its context (``context_length // 2`` tokens, from position 0) and carries on:
    the cache is refilled by one ``prefill``, and the uncached loop reads the same window, so both
    loops always see the same tokens. Sampling settings as in ``generate``; the key is split once
    per step, so the same key gives the same text. Returns the prompt followed by the new tokens.
    """
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, np.integer)) or n_tokens < 0:
        raise GenerationError(f"n_tokens must be an int >= 0, got {n_tokens!r}")
    temperature, top_k, top_p = _check_temperature(temperature), _check_top_k(top_k), _check_top_p(top_p)
    if not use_greedy and key is None:
        raise GenerationError("sampling needs a jax.random key (e.g. jax.random.key(0)); or pass use_greedy=True")
    prompt = [int(i) for i in np.asarray(prompt_ids).reshape(-1)]
    context = model.context_length
    if not prompt:
        raise GenerationError("the prompt must hold at least one token (a GPT has no start symbol)")
    if len(prompt) > context:
        raise GenerationError(f"the prompt has {len(prompt)} tokens but the model's context holds {context}; "
                              f"shorten it (e.g. keep its last {context} tokens)")
    if n_tokens == 0:
        return prompt
    if key is None:
        key = jax.random.key(0)  # unused by greedy decoding
    from flax import nnx

    graphdef, state = nnx.split(model)
    new = _generate_loop(graphdef, state, jnp.asarray([prompt], jnp.int32), key, jnp.float32(temperature),
                         n_tokens, top_k, top_p, use_greedy, use_cache)
    return prompt + [int(t) for t in np.asarray(new)[0]]


@partial(jax.jit, static_argnums=(0, 5, 6, 7, 8, 9))
def _generate_loop(graphdef, state, prompt, key, temperature, n_tokens, top_k, top_p, use_greedy, use_cache):
    from flax import nnx

    model = nnx.merge(graphdef, state)
    batch, length = prompt.shape
    context = model.context_length
    keep = max(context // 2, 1)  # tokens re-read when the context is full
    # every token of the text, preallocated: the prompt, the new tokens, and a context of padding so
    # that a window read near the end is never cut short
    tokens = jnp.zeros((batch, length + n_tokens + context), jnp.int32).at[:, :length].set(prompt)

    def choose(i, logits, tokens, key):
        key, draw = jax.random.split(key)
        token = choose_token(draw, logits, temperature, top_k, top_p, use_greedy).astype(jnp.int32)  # (batch,)
        return token, jax.lax.dynamic_update_slice(tokens, token[:, None], (0, length + i)), key

    if use_cache:
        logits, cache = model.prefill(prompt, model.init_cache(batch))  # (batch, V); positions 0..length-1

        def step(i, carry):
            logits, cache, filled, tokens, key = carry  # filled: positions of the cache in use
            token, tokens, key = choose(i, logits, tokens, key)

            def append(_):  # the usual step: one position, its key and value written in place
                logits, new_cache = model.decode_step(token, filled, cache)
                return logits, new_cache, filled + 1

            def slide(_):  # the cache is full: re-read the last `keep` tokens from position 0
                window = jax.lax.dynamic_slice_in_dim(tokens, length + i + 1 - keep, keep, axis=1)
                logits, new_cache = model.prefill(window, cache)
                return logits, new_cache, jnp.int32(keep)

            logits, cache, filled = jax.lax.cond(filled < context, append, slide, None)
            return logits, cache, filled, tokens, key

        carry = (logits, cache, jnp.int32(length), tokens, key)
        tokens = jax.lax.fori_loop(0, n_tokens, step, carry)[3]
    else:
        def recompute(i, carry):
            start, tokens, key = carry  # the model reads tokens[start : length + i]
            window = jax.lax.dynamic_slice_in_dim(tokens, start, context, axis=1)  # (batch, context)
            logits = model(window)  # (batch, context, V): every position again
            last = jax.lax.dynamic_index_in_dim(logits, length + i - start - 1, axis=1, keepdims=False)
            token, tokens, key = choose(i, last, tokens, key)
            # the same rule as the cache: when the window is full, keep its last `keep` tokens
            start = jnp.where(length + i - start < context, start, length + i + 1 - keep)
            return start, tokens, key

        tokens = jax.lax.fori_loop(0, n_tokens, recompute, (jnp.int32(0), tokens, key))[1]
    return tokens[:, length:length + n_tokens]
