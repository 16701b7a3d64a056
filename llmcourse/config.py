"""Presets: every size a chapter uses, chosen once per run.

A chapter never hard-codes a step count or a width; it asks ``preset()`` and gets one frozen,
validated object, grouped by chapter or model family: ``cfg.gpt.d_model``, ``cfg.rnn.hidden``,
``cfg.data.wiki_max_chars``. Three presets exist:

* ``tiny`` — for quick iteration and the Colab smoke test: every notebook runs in under a minute
  on 2 CPU cores. Results need not be good; every code path runs.
* ``cpu`` — the default without an accelerator: each notebook in a few minutes on 2 cores,
  results good enough that every claim in the prose holds.
* ``gpu`` — chosen automatically when JAX sees a GPU or TPU: bigger models, better samples.

``LLMCOURSE_PRESET`` overrides the automatic choice. ``cfg.replace(...)`` makes a changed copy,
validated again::

    cfg.replace(seed=1)                               # a top-level field
    cfg.replace(gpt={"steps": 2000, "d_model": 128})  # fields of one group
    cfg.replace(**{"gpt.steps": 2000})                # the same, by full path

A later chapter adds its own group: a frozen dataclass below, a field of ``Preset`` and a value in
each of the three presets.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, fields

VERSION = "0.1.0"  # the package version (pyproject.toml says the same; a test checks)
ENV_VAR = "LLMCOURSE_PRESET"


class PresetError(ValueError):
    """An unknown preset name or an invalid preset value."""


class Group:
    """One frozen group of preset fields; every field is a positive number.

    ``_path`` (set by ``Preset``) is the group's name in the preset, so an error names the full path
    of the field, e.g. ``gpt.d_model``.
    """

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_positive(f"{self.group_name()}.{f.name}", getattr(self, f.name), f.type)

    @classmethod
    def group_name(cls) -> str:
        return cls.GROUP  # type: ignore[attr-defined]

    def replace(self, **changes) -> "Group":
        """A copy with some fields changed (validated again)."""
        valid = [f.name for f in fields(self)]
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise PresetError(f"unknown preset field(s) {[f'{self.group_name()}.{u}' for u in unknown]}; "
                              f"valid fields of {self.group_name()!r}: {valid}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_positive(path: str, value, annotation) -> None:
    """A positive, finite number; a whole one (any integer type, NumPy's too) for an ``int`` field."""
    wants_int = annotation in (int, "int")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise PresetError(f"preset field {path!r} must be a positive number, got {value!r}")
    if wants_int and not isinstance(value, numbers.Integral):
        raise PresetError(f"preset field {path!r} must be an int, got {value!r}")


@dataclass(frozen=True)
class DataSizes(Group):
    """Text the chapters read (all chapters)."""

    GROUP = "data"
    wiki_max_chars: int  # characters of cleaned Wikipedia text the chapters use (train split)
    scoreboard_max_chars: int  # validation characters the scoreboard scores (more than the split has = all)


@dataclass(frozen=True)
class Bigram(Group):
    """Chapter 1: counting word pairs."""

    GROUP = "bigram"
    generate_words: int  # words the greedy bigram generator writes


@dataclass(frozen=True)
class LogReg(Group):
    """Chapter 2: logistic regression on bag-of-words, cross-validated."""

    GROUP = "logreg"
    steps: int
    learning_rate: float
    folds: int  # k of the stratified k-fold cross-validation
    repeats: int  # the k-fold split is repeated with this many seeds
    curve_points: int  # learning curve: ..., 1/4, 1/2, all of each training fold


@dataclass(frozen=True)
class MLPSizes(Group):
    """Chapter 3: multilayer perceptron and autoencoder on digits."""

    GROUP = "mlp"
    hidden: int
    steps: int
    batch: int
    autoencoder_steps: int
    eval_every: int
    overfit_steps: int  # full-batch steps on a small training subset (under-/over-fitting)
    compare_seeds: int  # seeds per model when the MLP is compared with the linear model


@dataclass(frozen=True)
class Tokens(Group):
    """Chapter 4: tokenizers."""

    GROUP = "tokens"
    train_chars: int  # characters of Wikipedia training text the chapter-4 tokenizers learn from
    bpe_vocab_size: int  # chapter 4's byte-level BPE: 256 bytes + merges; the vocabulary sweep ends here


@dataclass(frozen=True)
class LanguageModel(Group):
    """Chapter 5: character n-gram language models (and the samples chapters 5 and 7 show)."""

    GROUP = "lm"
    train_chars: int  # characters of the train split the language models learn from (more than it has = all)
    ngram_max_order: int  # chapter 5 counts n-grams up to this order and sweeps orders 1..max
    sample_chars: int  # length of the generated samples chapters 5 and 7 show


@dataclass(frozen=True)
class Word2Vec(Group):
    """Chapter 6: word2vec (skip-gram / CBOW with negative sampling), and gensim on the same text."""

    GROUP = "w2v"
    wiki_chars: int  # characters of the Wikipedia train split used (more than it has = all), plus the Lee corpus
    dims: int  # numbers per word vector
    window: int  # largest window reach on each side (each centre word draws its reach from 1..window)
    negatives: int  # noise words per example
    min_count: int  # words seen fewer times are dropped from the vocabulary
    sample: float  # subsampling threshold t
    epochs: int  # passes over the text
    batch: int  # examples per SGD step
    learning_rate: float  # at the start; decays linearly to 0


@dataclass(frozen=True)
class RNN(Group):
    """Chapter 7: recurrent networks, a vanilla RNN and an LSTM on the scoreboard."""

    GROUP = "rnn"
    hidden: int  # hidden units of every chapter-7 model
    embed: int  # width of the character embeddings
    seq_len: int  # characters per training window: backpropagation through time spans this many steps
    batch: int  # windows per training step
    steps: int  # training steps of the LSTM
    learning_rate: float  # LSTM's peak (Adam, cosine decay, gradient clipped to norm 1)
    vanilla_steps: int  # training steps of the vanilla RNN
    vanilla_learning_rate: float
    steps_per_call: int  # training steps fused into one compiled call
    eval_every: int  # steps between the validation points of the training curves
    eval_chars: int  # validation characters those points are measured on
    gradient_len: int  # window length of the gradient-through-time measurement
    timing_max_len: int  # the step-time experiment times sequence lengths 8, 16, ... up to this


@dataclass(frozen=True)
class GPTSizes(Group):
    """Chapter 8: the transformer, a GPT over BPE tokens on the scoreboard."""

    GROUP = "gpt"
    vocab_size: int  # byte-level BPE vocabulary (chapter 4's tokenizer) trained on the training text
    d_model: int  # width of the residual stream (token vectors)
    heads: int  # attention heads per layer (must divide d_model)
    layers: int  # transformer blocks
    context: int  # tokens of context, the length of the training windows
    batch: int  # windows per training step
    steps: int
    learning_rate: float  # peak (AdamW, linear warm-up, cosine decay)
    warmup: int  # warm-up steps
    steps_per_call: int  # training steps fused into one compiled call
    timing_max_len: int  # the step-time experiment times sequence lengths 16, 64, 256, ... up to this (tokens)
    memory_max_len: int  # the attention-memory experiment measures lengths 64, 128, ... up to this


@dataclass(frozen=True)
class Bench(Group):
    """The performance appendix (``llmcourse.performance``; ``make bench`` uses the cpu preset's)."""

    GROUP = "bench"
    steps: int  # training steps per timed round of the MFU measurement
    matmul_size: int  # n of the n × n float32 matmul that measures the machine's peak rate
    prompt_tokens: int  # KV-cache benchmark: prompt length ...
    new_tokens: int  # ... and new tokens generated


@dataclass(frozen=True)
class Preset:
    """All sizes the chapters use: a name, a seed and one group per chapter or model family."""

    name: str
    seed: int
    data: DataSizes
    bigram: Bigram
    logreg: LogReg
    mlp: MLPSizes
    tokens: Tokens
    lm: LanguageModel
    w2v: Word2Vec
    rnn: RNN
    gpt: GPTSizes
    bench: Bench

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise PresetError(f"preset field 'name' must be a non-empty str, got {self.name!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise PresetError(f"preset field 'seed' must be an int >= 0, got {self.seed!r}")
        for f in self.group_fields():
            value, kind = getattr(self, f.name), globals()[f.type]
            if type(value) is not kind:
                raise PresetError(f"preset field {f.name!r} must be a {kind.__name__}, got {value!r}")
        if self.gpt.d_model % self.gpt.heads:
            raise PresetError(f"preset field 'gpt.heads' ({self.gpt.heads}) must divide 'gpt.d_model' "
                              f"({self.gpt.d_model})")
        if self.logreg.folds < 2:
            raise PresetError(f"preset field 'logreg.folds' must be at least 2 for cross-validation, got {self.logreg.folds}")
        if self.gpt.warmup >= self.gpt.steps:
            raise PresetError(f"preset field 'gpt.warmup' ({self.gpt.warmup}) must be below 'gpt.steps' ({self.gpt.steps})")

    @classmethod
    def group_fields(cls) -> list:
        return [f for f in fields(cls) if f.name not in ("name", "seed")]

    def replace(self, **changes) -> "Preset":
        """A copy with some fields changed, validated again. Keys are top-level fields (``seed``),
        groups given as a dict of their changed fields (``gpt={"steps": 2000}``), or full paths
        (``**{"gpt.steps": 2000}``)."""
        tops = {f.name: f for f in fields(self)}
        grouped: dict[str, dict] = {}
        plain = {}
        for key, value in changes.items():
            group, dot, field = key.partition(".")
            if group not in tops:
                raise PresetError(f"unknown preset field {key!r}; valid fields: {list(tops)}")
            if dot:
                if group in ("name", "seed"):
                    raise PresetError(f"unknown preset field {key!r}: {group!r} has no fields")
                grouped.setdefault(group, {})[field] = value
            elif group not in ("name", "seed") and isinstance(value, dict):
                grouped.setdefault(group, {}).update(value)
            else:
                plain[group] = value
        for group, group_changes in grouped.items():
            base = plain.pop(group, getattr(self, group))
            plain[group] = base.replace(**group_changes)
        return dataclasses.replace(self, **plain)

    def as_dict(self) -> dict:
        """Every field, groups as nested dicts (JSON-ready)."""
        return dataclasses.asdict(self)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny", seed=0,
        data=DataSizes(wiki_max_chars=300_000, scoreboard_max_chars=50_000),
        bigram=Bigram(generate_words=12),
        logreg=LogReg(steps=30, learning_rate=0.05, folds=2, repeats=1, curve_points=2),
        mlp=MLPSizes(hidden=32, steps=60, batch=64, autoencoder_steps=60, eval_every=20, overfit_steps=60,
                     compare_seeds=1),
        tokens=Tokens(train_chars=200_000, bpe_vocab_size=1024),
        lm=LanguageModel(train_chars=300_000, ngram_max_order=5, sample_chars=80),
        w2v=Word2Vec(wiki_chars=200_000, dims=32, window=5, negatives=5, min_count=5, sample=1e-3, epochs=1,
                     batch=1024, learning_rate=0.025),
        rnn=RNN(hidden=32, embed=16, seq_len=32, batch=16, steps=40, learning_rate=1e-2, vanilla_steps=20,
                vanilla_learning_rate=1e-2, steps_per_call=10, eval_every=20, eval_chars=4096, gradient_len=60,
                timing_max_len=4),
        gpt=GPTSizes(vocab_size=384, d_model=32, heads=4, layers=2, context=64, batch=16, steps=60,
                     learning_rate=1e-2, warmup=10, steps_per_call=30, timing_max_len=64, memory_max_len=256),
        bench=Bench(steps=20, matmul_size=512, prompt_tokens=32, new_tokens=64),
    ),
    "cpu": Preset(
        name="cpu", seed=0,
        data=DataSizes(wiki_max_chars=2_000_000, scoreboard_max_chars=10_000_000),
        bigram=Bigram(generate_words=20),
        logreg=LogReg(steps=100, learning_rate=0.05, folds=5, repeats=30, curve_points=5),
        mlp=MLPSizes(hidden=128, steps=1500, batch=128, autoencoder_steps=2000, eval_every=50, overfit_steps=2000,
                     compare_seeds=3),
        tokens=Tokens(train_chars=2_000_000, bpe_vocab_size=8192),
        lm=LanguageModel(train_chars=10_000_000, ngram_max_order=10, sample_chars=240),
        w2v=Word2Vec(wiki_chars=10_000_000, dims=100, window=5, negatives=5, min_count=5, sample=1e-3, epochs=10,
                     batch=1024, learning_rate=0.025),
        rnn=RNN(hidden=256, embed=64, seq_len=64, batch=32, steps=800, learning_rate=1e-2, vanilla_steps=300,
                vanilla_learning_rate=1e-2, steps_per_call=25, eval_every=100, eval_chars=32_768,
                gradient_len=100, timing_max_len=256),
        gpt=GPTSizes(vocab_size=1024, d_model=64, heads=4, layers=2, context=64, batch=64, steps=1000,
                     learning_rate=1e-2, warmup=50, steps_per_call=50, timing_max_len=1024, memory_max_len=2048),
        bench=Bench(steps=200, matmul_size=2048, prompt_tokens=128, new_tokens=512),
    ),
    "gpu": Preset(
        name="gpu", seed=0,
        data=DataSizes(wiki_max_chars=3_000_000, scoreboard_max_chars=10_000_000),
        bigram=Bigram(generate_words=30),
        logreg=LogReg(steps=100, learning_rate=0.05, folds=5, repeats=50, curve_points=5),
        mlp=MLPSizes(hidden=256, steps=3000, batch=256, autoencoder_steps=4000, eval_every=100, overfit_steps=3000,
                     compare_seeds=5),
        tokens=Tokens(train_chars=3_000_000, bpe_vocab_size=16384),
        lm=LanguageModel(train_chars=10_000_000, ngram_max_order=12, sample_chars=400),
        w2v=Word2Vec(wiki_chars=10_000_000, dims=100, window=5, negatives=5, min_count=5, sample=1e-3, epochs=20,
                     batch=1024, learning_rate=0.025),
        rnn=RNN(hidden=512, embed=128, seq_len=128, batch=64, steps=4000, learning_rate=5e-3, vanilla_steps=2000,
                vanilla_learning_rate=5e-3, steps_per_call=50, eval_every=250, eval_chars=65_536,
                gradient_len=200, timing_max_len=512),
        gpt=GPTSizes(vocab_size=4096, d_model=256, heads=8, layers=6, context=256, batch=64, steps=3000,
                     learning_rate=1e-3, warmup=100, steps_per_call=100, timing_max_len=4096, memory_max_len=4096),
        bench=Bench(steps=200, matmul_size=8192, prompt_tokens=128, new_tokens=512),
    ),
}


def _accelerator_present() -> bool:
    import jax

    return jax.default_backend() in ("gpu", "tpu")


def preset_name() -> str:
    """The name of the preset in force: ``$LLMCOURSE_PRESET``, else ``gpu`` on an accelerator, else ``cpu``."""
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        if name not in PRESETS:
            raise PresetError(
                f"unknown preset {name!r} in ${ENV_VAR}; valid presets: {', '.join(PRESETS)}"
            )
        return name
    return "gpu" if _accelerator_present() else "cpu"


def preset(name: str | None = None) -> Preset:
    """The preset called ``name``, or the one in force when ``name`` is None."""
    if name is None:
        name = preset_name()
    if name not in PRESETS:
        raise PresetError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]
