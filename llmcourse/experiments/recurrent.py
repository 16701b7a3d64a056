"""Chapter 7's experiments: character RNNs trained by the engine, scored on the scoreboard, their
gradients through time, their samples, and the time a training step takes as sequences grow.

The notebook calls these functions; its claims tests (``tests/test_claims_ch07.py``) assert what
the prose states on the values the notebook glued when the book was executed at the ``cpu`` preset.

* ``char_data`` — the training text and the scoreboard text, encoded with the n-gram models' vocabulary;
* ``train_char_rnn`` — a ``CharRNN`` trained through ``llmcourse.training``, kept in the model store
  (``llmcourse.store``) so chapter 8 and the next run load it instead of training it again;
* ``gradient_by_distance`` / ``scaled_rnn_gradients`` — how much the loss at the last position
  depends on each earlier input;
* ``samples`` — generated text at several temperatures;
* ``step_times`` — seconds per training step as the sequence grows, at a fixed number of characters.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from llmcourse import generation, scoreboard, store
from llmcourse.data import TokenWindows, wikipedia_text
from llmcourse.experiments.language_models import record_ngram_scores
from llmcourse.metrics import bits_per_char
from llmcourse.models.rnn import (
    CharRNN,
    NextLogits,
    char_lm_loss,
    char_log_probs,
    parameter_count,
    run_cell,
)
from llmcourse.sealed import digest
from llmcourse.tokenizers import CharTokenizer
from llmcourse.training import History, TrainConfig, Trainer

GATED_CELL = "lstm"  # the chapter's main model
PROMPT = "The "
TEMPERATURES = (0.5, 1.0, 1.5)
RECURRENT_SCALES = (0.5, 1.0, 3.0)  # the vanilla RNN's U multiplied by these, untrained
GRADIENT_DISTANCE = 50  # the distance the prose compares gradients at
CLIP_NORM = 1.0  # the gradient is clipped to this norm in every training step
STORE_VERSION = 1  # the model store's version of train_char_rnn's training: bump it when that changes


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class CharData:
    """The chapter's text, as character ids of the n-gram models' vocabulary (``CharTokenizer``
    trained on the same training text): a character never seen in training is ``<unk>`` (id 0)."""

    tokenizer: CharTokenizer
    train_ids: np.ndarray  # (train_chars,) the first cfg.lm.train_chars characters of the train split
    validation_text: str  # scoreboard.text(cfg)
    validation_ids: np.ndarray  # (validation_chars,)
    curve_ids: np.ndarray  # the first cfg.rnn.eval_chars validation ids: the training curves' validation points

    @property
    def unknown_chars(self) -> int:
        """Validation characters never seen in training (read as ``<unk>``)."""
        return int(np.sum(self.validation_ids == 0))


def char_data(cfg) -> CharData:
    train = wikipedia_text("train", max_chars=cfg.lm.train_chars)
    tokenizer = CharTokenizer.train(train)
    validation = scoreboard.text(cfg)
    validation_ids = np.asarray(tokenizer.encode(validation), dtype=np.int32)
    return CharData(tokenizer, np.asarray(tokenizer.encode(train), dtype=np.int32), validation, validation_ids,
                    validation_ids[: cfg.rnn.eval_chars])


# --------------------------------------------------------------------------- training
def train_config(cfg, steps: int, learning_rate: float) -> TrainConfig:
    """Adam, the gradient clipped to norm 1, a cosine decay from ``learning_rate`` to zero (no
    warm-up: measured, it only delayed training here), validation points every
    ``cfg.rnn.eval_every`` steps."""
    return TrainConfig(steps=steps, batch_size=cfg.rnn.batch, learning_rate=learning_rate, optimizer="adam",
                       schedule="cosine", clip_norm=CLIP_NORM,
                       eval_every=cfg.rnn.eval_every, eval_batch_size=256, log_every=cfg.rnn.steps_per_call,
                       steps_per_call=cfg.rnn.steps_per_call, seed=cfg.seed)


@dataclass
class TrainedRNN:
    name: str
    cell: str
    model: CharRNN
    history: History
    parameters: int
    from_store: bool = False  # loaded from the model store rather than trained in this call


def train_char_rnn(cfg, data: CharData, cell: str, steps: int, learning_rate: float, name: str | None = None) -> TrainedRNN:
    """A ``CharRNN`` (``cfg.rnn.hidden`` hidden units, ``cfg.rnn.embed``-wide embeddings) trained
    on random windows of ``cfg.rnn.seq_len`` characters of the training text. The validation points
    of the curve are windows of the first ``cfg.rnn.eval_chars`` validation characters, each read
    from a zero hidden state.

    The model goes through the model store (``llmcourse.store.load_or_train``), keyed by the cell,
    the steps and learning rate, the preset's ``rnn`` group, the training configuration, the seed
    and a digest of the training and curve ids and the alphabet: the first call trains (exactly as
    without the store) and keeps it, later calls with the same settings load it."""
    config = train_config(cfg, steps, learning_rate)

    def build():
        return CharRNN(data.tokenizer.vocab_size, cfg.rnn.hidden, cell=cell, embed_dim=cfg.rnn.embed,
                       rngs=nnx.Rngs(cfg.seed))

    def train(model):
        history = Trainer(model, char_lm_loss, config).fit(
            TokenWindows(data.train_ids, cfg.rnn.seq_len, seed=cfg.seed),
            eval_data=TokenWindows(data.curve_ids, cfg.rnn.seq_len))
        return history, {}

    label = name or f"char {cell.upper()}"
    stored = store.load_or_train(
        "ch07-char-" + re.sub(r"[^a-z0-9._-]", "-", str(cell).lower()), build=build, train=train,
        settings={"preset": cfg.name, "cell": cell, "steps": steps, "learning_rate": learning_rate,
                  "rnn": cfg.rnn.as_dict(), "train_config": dataclasses.asdict(config)},
        data_digest=digest({"train_ids": store.array_digest(data.train_ids),
                            "curve_ids": store.array_digest(data.curve_ids), "chars": data.tokenizer.chars}),
        seed=cfg.seed, version=STORE_VERSION, description=f"chapter 7: {label}")
    return TrainedRNN(label, cell, stored.model, stored.history, parameter_count(stored.model), stored.from_store)


def train_chapter_models(cfg, data: CharData) -> dict[str, TrainedRNN]:
    """The chapter's two models: a vanilla RNN and an LSTM of the same width."""
    return {
        "rnn": train_char_rnn(cfg, data, "rnn", cfg.rnn.vanilla_steps, cfg.rnn.vanilla_learning_rate, "char RNN (vanilla)"),
        GATED_CELL: train_char_rnn(cfg, data, GATED_CELL, cfg.rnn.steps, cfg.rnn.learning_rate, "char LSTM"),
    }


# --------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class Scored:
    """A model's scoreboard measure and where its bits go."""

    bits_per_char: float  # on the whole scoreboard text, every character counted
    unknown_bits: float  # bits spent on the characters never seen in training (<unk>), in total
    log_probs: np.ndarray  # (validation_chars,) natural-log probability of each character


def score(model: CharRNN, data: CharData) -> Scored:
    log_probs = char_log_probs(model, data.validation_ids)
    unknown = data.validation_ids == 0
    return Scored(bits_per_char(log_probs), float(-log_probs[unknown].sum() / math.log(2)), log_probs)


def details(cfg, result: TrainedRNN, data: CharData) -> str:
    steps = len(result.history.steps)
    return (f"{result.cell.upper()}, hidden {cfg.rnn.hidden}, {result.parameters:,} parameters; {steps:,} steps "
            f"of {cfg.rnn.batch} × {cfg.rnn.seq_len} characters; V = {data.tokenizer.vocab_size}")


def ngram_rows(cfg, sweep=None):
    """The scoreboard's n-gram rows for ``cfg``'s preset: recorded from ``sweep`` (chapter 5's
    ``ngram_sweep``) when one is given, otherwise counted again (``record_ngram_scores``) if
    chapter 5 has not recorded them on this machine."""
    if sweep is not None:
        return sorted(record_ngram_scores(cfg, sweep), key=lambda r: r.bits_per_char)
    rows = [r for r in scoreboard.rows(cfg) if r.chapter == 5]
    if not any(r.model == "char n-gram, Kneser–Ney" for r in rows):
        rows = record_ngram_scores(cfg)
    return sorted(rows, key=lambda r: r.bits_per_char)


# --------------------------------------------------------------------------- two models, mixed
def kneser_ney_log_probs(sweep, data: CharData) -> np.ndarray:
    """The natural-log probability chapter 5's best Kneser–Ney n-gram gives each validation
    character, (validation_chars,): the row ``char n-gram, Kneser–Ney`` of the scoreboard."""
    model = sweep.model.with_options(order=sweep.best_order("kneser-ney"))
    if model.tokenizer.chars != data.tokenizer.chars:
        raise ValueError("the n-gram model and the RNN use different vocabularies; both must come from the "
                         "same training text (cfg.lm.train_chars characters of the train split)")
    return model.log_probs(data.validation_text)


MIX_WEIGHTS = tuple(round(w, 2) for w in np.arange(0.05, 1.0, 0.05))  # the RNN's share λ tried


@dataclass(frozen=True)
class Mixture:
    r"""Two models mixed character by character, :math:`p = \lambda\, p_\text{RNN} + (1 - \lambda)\,
    p_\text{n-gram}`. The validation text is cut in two halves; each half is scored with the
    :math:`\lambda` that is best on the *other* half, so no character is scored with a weight
    chosen on that character."""

    weights: tuple[float, float]  # λ used on the first half and on the second half
    bits_per_char: float  # the mixture, on the whole validation text
    rnn_bits: float  # the two models alone, on the same text
    ngram_bits: float
    rnn_better_share: float  # share of the characters to which the RNN gives the higher probability


def mix(rnn_log_probs, ngram_log_probs, weights=MIX_WEIGHTS) -> Mixture:
    """``Mixture`` of two per-character log-probability arrays of the same text."""
    a, b = np.asarray(rnn_log_probs, dtype=np.float64), np.asarray(ngram_log_probs, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"expected two log-probability arrays of one text, same length >= 2; got shapes "
                         f"{a.shape} and {b.shape}")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or not len(weights) or np.any((weights <= 0) | (weights >= 1)):
        raise ValueError(f"mixing weights must lie strictly between 0 and 1, got {weights.tolist()}")
    mixed = np.logaddexp(np.log(weights)[:, None] + a, np.log1p(-weights)[:, None] + b)  # (weights, n)
    half = len(a) // 2
    first, second = mixed[:, :half].mean(1), mixed[:, half:].mean(1)  # mean log-probability per weight
    use_first, use_second = int(np.argmax(second)), int(np.argmax(first))  # each half: the other's best
    log_probs = np.concatenate([mixed[use_first, :half], mixed[use_second, half:]])
    return Mixture((float(weights[use_first]), float(weights[use_second])), bits_per_char(log_probs),
                   bits_per_char(a), bits_per_char(b), float(np.mean(a > b)))


# --------------------------------------------------------------------------- gradients through time
def gradient_by_distance(model: CharRNN, windows: dict) -> np.ndarray:
    r"""How strongly the loss at the *last* position of each window depends on each earlier input.

    For windows ``x`` of shape (batch, T) the loss is the cross-entropy of the character after
    the last one, :math:`L_T`; the result is :math:`\lVert \partial L_T / \partial e_{T-d} \rVert`,
    the norm of its gradient with respect to the input embedding :math:`d` steps back, averaged
    over the batch, for :math:`d = 0, \ldots, T - 1` (index ``d``). Backpropagation through time
    multiplies one Jacobian :math:`\partial h_t / \partial h_{t-1}` per step, so this is where
    gradients vanish or explode.
    """
    x, y = jnp.asarray(windows["x"]), jnp.asarray(windows["y"][:, -1])
    return np.asarray(_gradient_by_distance(*nnx.split(model), x, y))


@jax.jit
def _gradient_by_distance(graphdef, state, x, y):
    model = nnx.merge(graphdef, state)

    def last_loss(embedded):  # (batch, T, embed_dim)
        _, h = run_cell(model.cell, model.initial_carry(x.shape[0]), embedded)  # (batch, T, hidden)
        logits = model.out(h[:, -1])  # (batch, vocab_size)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()  # each window its own loss

    grads = jax.grad(last_loss)(model.embed(x))  # (batch, T, embed_dim)
    return jnp.linalg.norm(grads, axis=-1).mean(0)[::-1]  # (T,) index = distance back from the last input


def gradient_windows(cfg, data: CharData, batch: int = 64) -> dict:
    """``batch`` windows of ``cfg.rnn.gradient_len`` validation characters (seeded)."""
    return TokenWindows(data.validation_ids, cfg.rnn.gradient_len, seed=cfg.seed + 1).next_batch(batch)


def scaled_rnn_gradients(cfg, data: CharData, scales=RECURRENT_SCALES) -> dict[float, np.ndarray]:
    """``gradient_by_distance`` of *untrained* vanilla RNNs whose recurrent matrix :math:`U` (a random
    orthogonal matrix) is multiplied by each scale: below 1 the gradient shrinks geometrically with
    the distance, above 1 it grows."""
    windows = gradient_windows(cfg, data)
    out = {}
    for scale in scales:
        model = CharRNN(data.tokenizer.vocab_size, cfg.rnn.hidden, cell="rnn", embed_dim=cfg.rnn.embed,
                        rngs=nnx.Rngs(cfg.seed))
        model.cell.recurrent_weights[...] = scale * model.cell.recurrent_weights[...]
        out[scale] = gradient_by_distance(model, windows)
    return out


# --------------------------------------------------------------------------- samples
def samples(model: CharRNN, tokenizer: CharTokenizer, n_chars: int, seed: int,
            temperatures=TEMPERATURES, prompt: str = PROMPT) -> dict[float, str]:
    """``prompt`` continued by ``n_chars`` characters at each temperature (``generation.generate``,
    key ``jax.random.key(seed)``)."""
    out = {}
    for t in temperatures:
        ids = generation.generate(NextLogits(model), tokenizer.encode(prompt), n_chars,
                                  key=jax.random.key(seed), temperature=t)
        out[t] = tokenizer.decode(ids)
    return out


# --------------------------------------------------------------------------- the sequential bottleneck
@dataclass(frozen=True)
class StepTimes:
    lengths: np.ndarray  # (k,) sequence lengths T
    batch_sizes: np.ndarray  # (k,) batch size B = characters per step / T
    seconds: np.ndarray  # (k,) seconds per forward + backward pass (compiled; the fastest of the repeats)


def step_times(cfg, vocab_size: int, cell: str = GATED_CELL, lengths=None, chars_per_step: int | None = None,
               repeats: int = 5) -> StepTimes:
    """Seconds for the forward and backward pass of one training step of a ``CharRNN``
    (``cfg.rnn.hidden`` units) at several sequence lengths ``T`` — by default
    ``cfg.rnn.timing_max_len`` divided by 16, 4 and 1 — with the characters per step fixed
    (``B * T = chars_per_step``, by default ``cfg.rnn.batch * cfg.rnn.seq_len``): every step does
    the same arithmetic, split into fewer, longer sequences. (The optimizer's update is the same at
    every length and left out.) Compilation is not timed; each length is run ``repeats`` times and
    the fastest kept. The times are this machine's; they are never asserted."""
    chars = chars_per_step or cfg.rnn.batch * cfg.rnn.seq_len
    if lengths is None:
        longest = min(cfg.rnn.timing_max_len, chars)
        lengths = sorted({max(1, longest // 16), max(1, longest // 4), longest})
    model = CharRNN(vocab_size, cfg.rnn.hidden, cell=cell, embed_dim=cfg.rnn.embed, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model)
    ids = np.random.default_rng(cfg.seed).integers(0, vocab_size, size=chars + max(lengths) + 1).astype(np.int32)
    seconds = []
    for length in lengths:
        batch = TokenWindows(ids, length, seed=0).next_batch(chars // length)
        batch = jax.tree.map(jnp.asarray, batch)
        jax.block_until_ready(_gradients(graphdef, params, batch))  # compiles
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(_gradients(graphdef, params, batch))
            best = min(best, time.perf_counter() - start)
        seconds.append(best)
    lengths = np.asarray(lengths)
    return StepTimes(lengths, chars // lengths, np.asarray(seconds))


@partial(jax.jit, static_argnums=0)
def _gradients(graphdef, params, batch):
    return jax.grad(lambda p: char_lm_loss(nnx.merge(graphdef, p), batch)[0])(params)


# --------------------------------------------------------------------------- a picture
def plot_unrolled(ax, steps: int = 4):
    """The RNN unrolled through time: one box per time step, the hidden state passed to the right."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    def arrow(x0, y0, x1, y1, color="black"):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12, color=color, lw=1.2))

    for t in range(1, steps + 1):
        x = 2.2 * t
        ax.add_patch(FancyBboxPatch((x - 0.6, -0.45), 1.2, 0.9, boxstyle="round,pad=0.05", fc="#dde8f5", ec="#33507a"))
        ax.text(x, 0, "cell\nW, U, b", ha="center", va="center", fontsize=8)
        ax.text(x, -1.55, f"$x_{t}$", ha="center", va="center", fontsize=11)
        ax.text(x, 1.6, f"$z_{t}$", ha="center", va="center", fontsize=11)
        arrow(x, -1.3, x, -0.55)
        arrow(x, 0.55, x, 1.35)
        arrow(x - 1.6, 0, x - 0.7, 0, color="#b03a2e")
        ax.text(x - 1.15, 0.18, f"$h_{t - 1}$", ha="center", fontsize=9, color="#b03a2e")
    arrow(2.2 * steps + 0.7, 0, 2.2 * steps + 1.5, 0, color="#b03a2e")
    ax.text(2.2 * steps + 1.1, 0.18, f"$h_{steps}$", ha="center", fontsize=9, color="#b03a2e")
    ax.set_xlim(0.3, 2.2 * steps + 1.8)
    ax.set_ylim(-1.9, 1.9)
    ax.axis("off")
    return ax
