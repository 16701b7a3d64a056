"""Chapter 8's experiments: the GPT trained by the engine and scored on the scoreboard, attention
made concrete with numbers, attention maps, the cost of a training step and of attention's memory
as sequences grow, and samples.

The notebook calls these functions; its claims tests (``tests/test_claims_ch08.py``) assert what
the prose states on the values the notebook glued when the book was executed at the ``cpu`` preset.

* ``qkv_example`` — queries, keys and values of a four-word sentence, by hand-picked numbers;
* ``token_data`` — the training and scoreboard text as byte-level BPE tokens (chapter 4's tokenizer);
* ``train_gpt`` / ``score`` / ``record`` — the chapter's GPT over those tokens, scored in bits per
  *character* on the same validation text as chapter 5's n-grams and chapter 7's RNN; kept in the
  model store (``llmcourse.store``), so later chapters and runs load it instead of training it again;
* ``scoreboard_rows`` — the n-gram and RNN rows, recomputed when chapters 5 and 7 have not recorded
  them on this machine, so this chapter never silently depends on them;
* ``attention_maps`` — the trained model's attention weights on a sentence;
* ``step_times`` — seconds per training step of the GPT and of an LSTM with as many parameters;
* ``loop_iterations`` — the steps of a forward pass that must wait for each other, counted in the
  program JAX traces;
* ``attention_memory`` — bytes XLA allocates for attention as the sequence grows;
* ``samples`` — text at several temperatures from the compiled, KV-cached generation loop.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
from jax.extend import core as jax_core
import numpy as np
from flax import nnx

from llmcourse import generation, scoreboard, store
from llmcourse.data import TokenWindows, wikipedia_text
from llmcourse.experiments import recurrent
from llmcourse.experiments.language_models import known_word_share, training_words
from llmcourse.metrics import bits_per_char
from llmcourse.models.rnn import CharRNN, char_lm_loss
from llmcourse.models.transformer import GPT, attention, causal_mask, flops_per_token, loss_fn, parameter_count, token_log_probs
from llmcourse.sealed import digest
from llmcourse.tokenizers import BPETokenizer
from llmcourse.training import History, TrainConfig, Trainer

GPT_ROW = "GPT (transformer), BPE tokens"  # the scoreboard row this chapter records
PROMPT = "The "
TEMPERATURES = (0.5, 0.8, 1.0, 1.3)
RNN_CELL = "lstm"  # the parallelism experiment's recurrent model: chapter 7's gated cell
STORE_VERSION = 1  # the model store's version of train_gpt's training: bump it when that changes


# =========================================================================== attention by hand
@dataclass(frozen=True)
class QKVExample:
    """Every number of one attention computation on a four-word sentence."""

    words: tuple[str, ...]
    features: tuple[str, ...]  # what each column of ``x`` means
    x: np.ndarray  # (4, 4) one row per word
    w_q: np.ndarray  # (4, 3)
    w_k: np.ndarray  # (4, 3)
    w_v: np.ndarray  # (4, 4)
    q: np.ndarray  # (4, 3) = x @ w_q
    k: np.ndarray  # (4, 3) = x @ w_k
    v: np.ndarray  # (4, 4) = x @ w_v
    scores: np.ndarray  # (4, 4) q k^T / sqrt(3), masked entries -inf
    weights: np.ndarray  # (4, 4) softmax of each row
    outputs: np.ndarray  # (4, 4) = weights @ v


def qkv_example() -> QKVExample:
    """"the cat sat down" with four made-up features per word (article, noun, verb, adverb).

    The query and key matrices are chosen so that each word *looks for* the word it depends on:
    a noun looks for its article, a verb for its subject noun, an adverb for its verb. A key says
    what a word *is* (article, noun or verb); a value hands on the word's features unchanged. The
    result is computed by ``llmcourse.models.transformer.attention`` with the causal mask.
    """
    words = ("the", "cat", "sat", "down")
    features = ("article", "noun", "verb", "adverb")
    x = np.eye(4)  # word i has feature i: (4 words, 4 features)
    # query/key space: (is a noun?, is an article?, is a verb?)
    w_q = np.array([[0, 0, 0],  # an article looks for nothing in particular
                    [0, 2, 0],  # a noun looks for an article
                    [2, 0, 0],  # a verb looks for a noun
                    [0, 0, 2]], dtype=float)  # an adverb looks for a verb
    w_k = np.array([[0, 1, 0],  # an article offers "article"
                    [1, 0, 0],  # a noun offers "noun"
                    [0, 0, 1],  # a verb offers "verb"
                    [0, 0, 0]], dtype=float)  # an adverb offers nothing
    w_v = np.eye(4)
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    outputs, weights = attention(jnp.asarray(q, jnp.float32), jnp.asarray(k, jnp.float32),
                                 jnp.asarray(v, jnp.float32), causal_mask(4))
    scores = np.where(np.tril(np.ones((4, 4), bool)), q @ k.T / math.sqrt(q.shape[1]), -np.inf)
    return QKVExample(words, features, x, w_q, w_k, w_v, q, k, v, scores, np.asarray(weights, dtype=float),
                      np.asarray(outputs, dtype=float))


# =========================================================================== the data
@dataclass(frozen=True)
class TokenText:
    """The scoreboard's text as byte-level BPE tokens (``llmcourse.tokenizers.BPETokenizer``, chapter
    4) learned from the training text. Every character of any text has a spelling in bytes, so
    nothing is ``<unk>``: a character never seen in training is spelt out byte by byte."""

    tokenizer: object  # BPETokenizer
    train_text: str  # the first cfg.lm.train_chars characters of the train split
    train_ids: np.ndarray  # (train_tokens,)
    validation_text: str  # scoreboard.text(cfg)
    validation_ids: np.ndarray  # (validation_tokens,)

    @property
    def chars_per_token(self) -> float:
        """Characters per token on the validation text."""
        return len(self.validation_text) / len(self.validation_ids)


def token_data(cfg) -> TokenText:
    """``TokenText`` with a BPE vocabulary of ``cfg.gpt.vocab_size`` tokens."""
    train = wikipedia_text("train", max_chars=cfg.lm.train_chars)
    tokenizer = BPETokenizer.train(train, cfg.gpt.vocab_size)
    validation = scoreboard.text(cfg)
    return TokenText(tokenizer, train, np.asarray(tokenizer.encode(train), np.int32), validation,
                     np.asarray(tokenizer.encode(validation), np.int32))


# =========================================================================== the GPT
def build_gpt(cfg, vocab_size: int, positions: str = "learned", seed: int | None = None,
              context_length: int | None = None, dropout: float = 0.0) -> GPT:
    """The chapter's GPT at ``cfg``'s sizes (untied output layer; ``dropout`` while training only)."""
    return GPT(vocab_size, context_length or cfg.gpt.context, cfg.gpt.d_model, cfg.gpt.heads, cfg.gpt.layers,
               positions=positions, tie_embeddings=False, dropout=dropout,
               rngs=nnx.Rngs(cfg.seed if seed is None else seed))


def train_config(cfg, steps: int | None = None) -> TrainConfig:
    """AdamW (no weight decay: well under one pass over the data nothing needs regularising), the
    gradient clipped to norm 1, a short linear warm-up and a cosine decay to zero; ``steps_per_call``
    steps fused into one compiled call."""
    steps = steps or cfg.gpt.steps
    return TrainConfig(steps=steps, batch_size=cfg.gpt.batch, learning_rate=cfg.gpt.learning_rate,
                       optimizer="adamw", weight_decay=0.0, schedule="cosine",
                       warmup_steps=min(cfg.gpt.warmup, steps - 1), clip_norm=1.0,
                       steps_per_call=min(cfg.gpt.steps_per_call, steps), log_every=cfg.gpt.steps_per_call,
                       seed=cfg.seed)


@dataclass
class TrainedGPT:
    model: GPT
    history: History
    parameters: int
    positions: str
    from_store: bool = False  # loaded from the model store rather than trained in this call

    @property
    def final_training_bits(self) -> float:
        """Training bits per token, averaged over the last 10% of the steps."""
        bits = np.asarray(self.history.train["bits_per_token"])
        return float(bits[-max(1, len(bits) // 10):].mean())


def train_gpt(cfg, data, positions: str = "learned", steps: int | None = None, dropout: float = 0.0) -> TrainedGPT:
    """The chapter's GPT trained on random windows of ``cfg.gpt.context`` tokens of the training
    text (``data``: ``token_data(cfg)``).

    The model goes through the model store (``llmcourse.store.load_or_train``), keyed by the
    positions, dropout and steps, the preset's ``gpt`` group, the training configuration, the seed
    and a digest of the training ids and the tokenizer's merges: the first call trains (exactly as
    without the store) and keeps it, later calls with the same settings load it."""
    config = train_config(cfg, steps)

    def train(model):
        return Trainer(model, loss_fn, config).fit(TokenWindows(data.train_ids, cfg.gpt.context, seed=cfg.seed)), {}

    stored = store.load_or_train(
        "ch08-gpt", build=lambda: build_gpt(cfg, data.tokenizer.vocab_size, positions, dropout=dropout), train=train,
        settings={"preset": cfg.name, "positions": positions, "dropout": dropout, "steps": config.steps,
                  "vocab_size": data.tokenizer.vocab_size, "gpt": cfg.gpt.as_dict(),
                  "train_config": dataclasses.asdict(config)},
        data_digest=digest({"train_ids": store.array_digest(data.train_ids),
                            "merges": [list(m) for m in data.tokenizer.merges]}),
        seed=cfg.seed, version=STORE_VERSION,
        description=f"chapter 8: GPT, {positions} positions, dropout {dropout}, {config.steps} steps")
    return TrainedGPT(stored.model, stored.history, parameter_count(stored.model), positions, stored.from_store)


@dataclass(frozen=True)
class Scored:
    bits_per_char: float  # total bits of the scoreboard text / its characters
    bits_per_token: float
    log_probs: np.ndarray  # (validation_tokens,) natural-log probability of each token


def score(model: GPT, data: TokenText) -> Scored:
    """Bits per character on the scoreboard text: the bits of every token (each predicted from at
    least half a context of history, ``token_log_probs``; the first by a uniform guess) divided by
    the number of characters. Fewer, longer tokens mean fewer predictions, but each carries more."""
    log_probs = token_log_probs(model, data.validation_ids)
    return Scored(bits_per_char(log_probs, n_chars=len(data.validation_text)), bits_per_char(log_probs), log_probs)


def details(cfg, trained: TrainedGPT, vocab_size: int) -> str:
    steps = len(trained.history.steps)
    return (f"{cfg.gpt.layers} layers, d_model {cfg.gpt.d_model}, {cfg.gpt.heads} heads, context {cfg.gpt.context} tokens, "
            f"{trained.positions} positions, {trained.parameters:,} parameters; {steps:,} steps of "
            f"{cfg.gpt.batch} × {cfg.gpt.context} tokens; byte-level BPE, V = {vocab_size}")


def record(cfg, trained: TrainedGPT, scored: Scored, vocab_size: int):
    return scoreboard.record(GPT_ROW, scored.bits_per_char, cfg, chapter=8, details=details(cfg, trained, vocab_size))


# =========================================================================== the other rows
def rnn_rows(cfg):
    """Chapter 7's row for its gated RNN (the LSTM), trained and recorded again with chapter 7's
    own functions and settings when chapter 7 has not recorded it on this machine (deterministic:
    same preset, same seed, same row)."""
    rows = [r for r in scoreboard.rows(cfg) if r.chapter == 7]
    if not rows:
        data = recurrent.char_data(cfg)
        trained = recurrent.train_char_rnn(cfg, data, recurrent.GATED_CELL, cfg.rnn.steps, cfg.rnn.learning_rate,
                                           "char LSTM")
        scored = recurrent.score(trained.model, data)
        rows = [scoreboard.record(trained.name, scored.bits_per_char, cfg, chapter=7,
                             details=recurrent.details(cfg, trained, data))]
    return rows


def scoreboard_rows(cfg):
    """The n-gram rows (chapter 5) and the RNN rows (chapter 7) of ``cfg``'s preset, each computed
    here only if missing on this machine."""
    return recurrent.ngram_rows(cfg) + rnn_rows(cfg)


# =========================================================================== looking inside
def heatmap_sentence(text: str, shortest: int = 40, longest: int = 64) -> str:
    """The first sentence of ``text`` with ``shortest`` to ``longest`` characters (plain ASCII
    letters and punctuation, so the figure can label every token)."""
    import re

    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if shortest <= len(sentence) <= longest and sentence.isascii() and sentence[:1].isupper():
            return sentence
    raise ValueError(f"no sentence of {shortest}..{longest} ASCII characters in the text")


def token_pieces(tokenizer, text: str) -> list[str]:
    """The text of each token of ``tokenizer.encode(text)``, in order (they join up to ``text``)."""
    return [tokenizer.decode([i]) for i in tokenizer.encode(text)]


def attention_maps(model: GPT, tokenizer, text: str) -> np.ndarray:
    """The attention weights of every layer and head on ``text`` (at most ``context_length``
    tokens): (layers, heads, time, time), row ``t`` = how position ``t`` spreads its attention
    over positions ``0..t``."""
    ids = tokenizer.encode(text)
    if len(ids) > model.context_length:
        raise ValueError(f"the text has {len(ids)} tokens; the model reads at most {model.context_length}")
    _, weights = _with_attention(*nnx.split(model), jnp.asarray([ids], jnp.int32))  # (1, layers, heads, time, time)
    return np.asarray(weights[0])


@partial(jax.jit, static_argnums=0)
def _with_attention(graphdef, state, ids):
    return nnx.merge(graphdef, state)(ids, return_attention=True)


def previous_token_share(weights: np.ndarray) -> np.ndarray:
    """(layers, heads): the average weight each head gives the position just before (offset 1)."""
    t = weights.shape[-1]
    return weights[..., np.arange(1, t), np.arange(0, t - 1)].mean(-1)


def attention_distance(weights: np.ndarray) -> np.ndarray:
    r"""(layers, heads): how far back each head looks, :math:`\sum_u a_{t,u}\,(t - u)` averaged over
    the positions :math:`t`, in tokens. A head that reads only the previous token scores 1; one that
    spreads its weight evenly over everything before it scores about half the position."""
    t = weights.shape[-1]
    distance = np.arange(t)[:, None] - np.arange(t)[None, :]  # (time, time): t - u
    return (weights * np.maximum(distance, 0)).sum(-1)[..., 1:].mean(-1)


def even_attention_distance(length: int) -> float:
    """``attention_distance`` of a head that attends evenly to every position up to its own."""
    return float(np.mean([np.arange(t + 1).mean() for t in range(1, length)]))


# =========================================================================== time and memory
def matched_rnn_hidden(parameters: int, vocab_size: int, embed_dim: int, cell: str = RNN_CELL) -> int:
    """The hidden width whose ``CharRNN`` has the parameter count closest to ``parameters``."""
    def count(h):
        gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
        return vocab_size * embed_dim + gates * (embed_dim + h + 1) * h + (h + 1) * vocab_size

    return min(range(8, 2049, 8), key=lambda h: abs(count(h) - parameters))


@dataclass(frozen=True)
class StepTimes:
    lengths: np.ndarray  # (k,) sequence lengths T
    batch_sizes: np.ndarray  # (k,) B = tokens per step / T
    gpt_seconds: np.ndarray  # (k,) seconds per training step of the GPT
    rnn_seconds: np.ndarray  # (k,) ... of the LSTM
    gpt_parameters: int
    rnn_parameters: int
    rnn_hidden: int
    gpt_flops_per_token: np.ndarray  # (k,) the GPT's training FLOPs per token at each length (flops_per_token)
    rnn_flops_per_token: float  # the LSTM's, 6N with N its weights that multiply every token (no attention term)
    gpt_loop_iterations: np.ndarray  # (k,) loop iterations of the GPT's forward pass at each length (loop_iterations)
    rnn_loop_iterations: np.ndarray  # (k,) ... of the LSTM's


def _sub_jaxprs(eqn):
    """The programs nested in one equation of a jaxpr: a loop's body, a branch, a called function."""
    for value in eqn.params.values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, jax_core.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jax_core.Jaxpr):
                yield item


def _iterations(jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        inner = [_iterations(sub) for sub in _sub_jaxprs(eqn)]
        if eqn.primitive.name == "scan":  # a loop of `length` steps, each running its body once
            total += eqn.params["length"] * max([1, *inner])
        elif eqn.primitive.name == "while":
            raise ValueError("the program has a while loop, whose number of steps is only known when it runs")
        elif eqn.primitive.name == "cond":  # one branch runs
            total += max(inner, default=0)
        else:
            total += sum(inner)
    return total


def this_machine() -> str:
    """What JAX computes on here, in words: ``"2 CPU cores"`` (the cores this process may use) or,
    with an accelerator, ``"1 × NVIDIA H100"``."""
    import os

    if jax.default_backend() == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return f"{cores} CPU core{'' if cores == 1 else 's'}"
    return f"{jax.device_count()} × {jax.devices()[0].device_kind}"


def loop_iterations(model, length: int, batch: int = 1) -> int:
    """How many loop steps the forward pass of ``model`` over ``batch`` sequences of ``length``
    tokens runs, counted in the program JAX traces for it (``jax.make_jaxpr``): every iteration of a
    ``jax.lax.scan`` is one step (nested loops multiply). A loop step needs the result of the step
    before it, so these steps run one after the other however many processors there are; everything
    else is straight-line array operations over the whole batch and every position at once. The
    backward pass walks the same loops back."""
    graphdef, state = nnx.split(model)
    ids = jax.ShapeDtypeStruct((batch, length), jnp.int32)
    program = jax.make_jaxpr(lambda state, ids: nnx.merge(graphdef, state)(ids))(state, ids)
    return _iterations(program.jaxpr)


def _seconds_per_step(model, loss, ids: np.ndarray, length: int, batch: int, repeats: int) -> float:
    """Fastest of ``repeats`` timings of one compiled forward + backward pass (the gradient of
    ``loss`` with respect to every parameter) on ``batch`` windows of ``length`` tokens."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    windows = TokenWindows(ids, length, seed=0).next_batch(batch)
    windows = {k: jnp.asarray(v) for k, v in windows.items()}

    @jax.jit
    def gradient(params, windows):
        return jax.grad(lambda p: loss(nnx.merge(graphdef, p, rest), windows)[0])(params)

    jax.block_until_ready(gradient(params, windows))  # compiles
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(gradient(params, windows))
        best = min(best, time.perf_counter() - start)
    return best


def step_times(cfg, vocab_size: int, repeats: int = 5) -> StepTimes:
    """Seconds per training step — the forward and backward pass, compiled; compilation and the
    optimizer's update (a few operations per parameter) left out — of the chapter's GPT and of an
    LSTM with about as many parameters, at sequence lengths ``16, 64, 256, ...`` up to
    ``cfg.gpt.timing_max_len``, with a fixed number of tokens per step
    (``cfg.gpt.batch * cfg.gpt.context``): every length does (nearly) the same arithmetic, split
    into fewer, longer sequences. Each time is the fastest of ``repeats``; GPT and LSTM alternate,
    so a busy machine slows both. Also counted, at each length: the loop steps of each model's
    forward pass (``loop_iterations``), and the LSTM's training FLOPs per token."""
    chars = cfg.gpt.batch * cfg.gpt.context  # tokens per step
    lengths = [16 * 4**k for k in range(10) if 16 * 4**k <= min(cfg.gpt.timing_max_len, chars)]
    ids = np.random.default_rng(cfg.seed).integers(0, vocab_size, size=4 * chars + 1).astype(np.int32)
    gpt_parameters = parameter_count(build_gpt(cfg, vocab_size))
    embed = cfg.gpt.d_model
    hidden = matched_rnn_hidden(gpt_parameters, vocab_size, embed)
    # one GPT whose context holds the longest length (its longer position table is a lookup: no
    # extra arithmetic), one LSTM: both read any length
    gpt = build_gpt(cfg, vocab_size, context_length=max(lengths))
    rnn = CharRNN(vocab_size, hidden, cell=RNN_CELL, embed_dim=embed, rngs=nnx.Rngs(cfg.seed))
    gpt_s, rnn_s = [], []
    for length in lengths:
        gpt_s.append(_seconds_per_step(gpt, loss_fn, ids, length, chars // length, repeats))
        rnn_s.append(_seconds_per_step(rnn, char_lm_loss, ids, length, chars // length, repeats))
    lengths = np.asarray(lengths)
    rnn_weights = parameter_count(rnn) - vocab_size * embed  # the embedding is a lookup table
    return StepTimes(lengths, chars // lengths, np.asarray(gpt_s), np.asarray(rnn_s), gpt_parameters,
                     parameter_count(rnn), hidden,
                     np.asarray([flops_per_token(gpt, seq_len=int(t)) for t in lengths]), 6.0 * rnn_weights,
                     np.asarray([loop_iterations(gpt, int(t)) for t in lengths]),
                     np.asarray([loop_iterations(rnn, int(t)) for t in lengths]))


@dataclass(frozen=True)
class AttentionMemory:
    lengths: np.ndarray  # (k,)
    forward_bytes: np.ndarray  # (k,) temporary bytes XLA allocates for attention's forward pass
    training_bytes: np.ndarray  # (k,) ... for its forward and backward pass
    score_bytes: np.ndarray  # (k,) the size of one (batch, heads, T, T) float32 score matrix


def attention_memory(cfg, lengths=None, batch: int = 1) -> AttentionMemory:
    """Memory of one causal multi-head attention (the chapter's heads and head width) at each
    sequence length, *measured*: XLA compiles the computation for that shape and reports the
    temporary buffers it needs (``compiled.memory_analysis().temp_size_in_bytes``). Nothing is run."""
    heads, head_dim = cfg.gpt.heads, cfg.gpt.d_model // cfg.gpt.heads
    lengths = lengths or [2**k for k in range(6, 20) if 2**k <= cfg.gpt.memory_max_len]

    def forward(q, k, v):
        return attention(q, k, v, causal_mask(q.shape[2]))[0]

    def training(q, k, v):
        return jax.grad(lambda *a: forward(*a).sum(), argnums=(0, 1, 2))(q, k, v)

    fwd, train = [], []
    for t in lengths:
        shape = jax.ShapeDtypeStruct((batch, heads, t, head_dim), jnp.float32)
        fwd.append(jax.jit(forward).lower(shape, shape, shape).compile().memory_analysis().temp_size_in_bytes)
        train.append(jax.jit(training).lower(shape, shape, shape).compile().memory_analysis().temp_size_in_bytes)
    lengths = np.asarray(lengths)
    return AttentionMemory(lengths, np.asarray(fwd), np.asarray(train), batch * heads * lengths**2 * 4)


# =========================================================================== generation
def samples(model: GPT, tokenizer, n_tokens: int, seed: int, temperatures=TEMPERATURES,
            prompt: str = PROMPT) -> dict:
    """``prompt`` continued by ``n_tokens`` tokens at each temperature, plus greedy decoding
    (key ``None``), with the compiled KV-cached loop; the same key at every temperature."""
    ids = tokenizer.encode(prompt)
    out = {"greedy": tokenizer.decode(generation.generate_cached(model, ids, n_tokens, use_greedy=True))}
    for t in temperatures:
        out[t] = tokenizer.decode(generation.generate_cached(model, ids, n_tokens, key=jax.random.key(seed), temperature=t))
    return out


def real_word_shares(texts: dict, data, prompt: str = PROMPT) -> dict:
    """For each temperature in ``texts`` (as returned by ``samples``): the share of the generated
    words (lower-cased letter runs, the prompt left out) that occur in the training text."""
    vocabulary = training_words(data.train_text)
    return {t: known_word_share(text[len(prompt):], vocabulary) for t, text in texts.items() if t != "greedy"}


@dataclass(frozen=True)
class CacheTiming:
    n_tokens: int
    cached_seconds: float
    recomputed_seconds: float
    same_tokens: bool

    @property
    def speedup(self) -> float:
        return self.recomputed_seconds / self.cached_seconds


def cache_timing(model: GPT, prompt_ids, n_tokens: int, repeats: int = 3) -> CacheTiming:
    """Greedy generation of ``n_tokens`` with and without the KV cache, each the whole loop in
    one compiled call (compilation left out; fastest of ``repeats``)."""
    def run(use_cache):
        generation.generate_cached(model, prompt_ids, n_tokens, use_greedy=True, use_cache=use_cache)  # compiles
        best, out = math.inf, None
        for _ in range(repeats):
            start = time.perf_counter()
            out = generation.generate_cached(model, prompt_ids, n_tokens, use_greedy=True, use_cache=use_cache)
            best = min(best, time.perf_counter() - start)
        return best, out

    cached, a = run(True)
    recomputed, b = run(False)
    return CacheTiming(n_tokens, cached, recomputed, a == b)
