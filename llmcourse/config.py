"""Presets: every size a chapter uses, chosen once per run.

A chapter never hard-codes a step count or a width; it asks ``preset()`` and gets one frozen,
validated object. Three presets exist:

* ``tiny`` — for the test suite: every notebook runs in under a minute on 2 CPU cores. Results
  need not be good; every code path runs.
* ``cpu`` — the default without an accelerator: each notebook in at most 3 minutes on 2 cores,
  results good enough that every claim in the prose holds.
* ``gpu`` — chosen automatically when JAX sees a GPU or TPU: bigger models, better samples.

``LLMCOURSE_PRESET`` overrides the automatic choice.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields

ENV_VAR = "LLMCOURSE_PRESET"


class PresetError(ValueError):
    """An unknown preset name or an invalid preset value."""


@dataclass(frozen=True)
class Preset:
    """All sizes the chapters use. Every field is a positive number."""

    name: str
    seed: int
    # --- data ---
    wiki_max_chars: int  # characters of cleaned Wikipedia text the chapters use (train split)
    # --- chapter 1: counting word pairs ---
    bigram_generate_words: int
    # --- chapter 2: logistic regression on bag-of-words ---
    logreg_steps: int
    logreg_learning_rate: float
    logreg_folds: int  # k of the stratified k-fold cross-validation
    logreg_repeats: int  # the k-fold split is repeated with this many seeds
    logreg_curve_points: int  # learning curve: ..., 1/4, 1/2, all of each training fold
    # --- chapter 3: multilayer perceptron and autoencoder on digits ---
    mlp_hidden: int
    mlp_steps: int
    mlp_batch: int
    autoencoder_steps: int
    eval_every: int
    overfit_steps: int  # full-batch steps on a small training subset (under-/over-fitting)
    compare_seeds: int  # seeds per model when the MLP is compared with the linear model
    # --- chapter 4: tokens ---
    tokens_train_chars: int  # characters of Wikipedia training text the chapter-4 tokenizers learn from
    bpe_vocab_size: int  # chapter 4's byte-level BPE: 256 bytes + merges; the vocabulary sweep ends here
    # --- chapter 5: character n-gram language models; the scoreboard (chapters 5, 7, 8) ---
    lm_train_chars: int  # characters of the train split the language models learn from (more than it has = all)
    ngram_max_order: int  # chapter 5 counts n-grams up to this order and sweeps orders 1..max
    scoreboard_max_chars: int  # validation characters the scoreboard scores (more than the split has = all)
    sample_chars: int  # length of the generated samples chapter 5 shows
    # --- chapter 6: word2vec (skip-gram / CBOW with negative sampling), and gensim on the same text ---
    w2v_wiki_chars: int  # characters of the Wikipedia train split used (more than it has = all), plus the Lee corpus
    w2v_dims: int  # numbers per word vector
    w2v_window: int  # largest window reach on each side (each centre word draws its reach from 1..window)
    w2v_negatives: int  # noise words per example
    w2v_min_count: int  # words seen fewer times are dropped from the vocabulary
    w2v_sample: float  # subsampling threshold t
    w2v_epochs: int  # passes over the text
    w2v_batch: int  # examples per SGD step
    w2v_learning_rate: float  # at the start; decays linearly to 0
    # --- chapter 7: recurrent networks, a vanilla RNN and an LSTM on the scoreboard ---
    rnn_hidden: int  # hidden units of every chapter-7 model
    rnn_embed: int  # width of the character embeddings
    rnn_seq_len: int  # characters per training window: backpropagation through time spans this many steps
    rnn_batch: int  # windows per training step
    rnn_steps: int  # training steps of the LSTM
    rnn_learning_rate: float  # LSTM's peak (Adam, cosine decay, gradient clipped to norm 1)
    rnn_vanilla_steps: int  # training steps of the vanilla RNN
    rnn_vanilla_learning_rate: float
    rnn_steps_per_call: int  # training steps fused into one compiled call
    rnn_eval_every: int  # steps between the validation points of the training curves
    rnn_eval_chars: int  # validation characters those points are measured on
    rnn_gradient_len: int  # window length of the gradient-through-time measurement
    rnn_timing_max_len: int  # the step-time experiment times sequence lengths 8, 16, ... up to this
    # --- chapter 8: the transformer, a GPT over BPE tokens on the scoreboard ---
    gpt_vocab_size: int  # byte-level BPE vocabulary (chapter 4's tokenizer) trained on the training text
    gpt_d_model: int  # width of the residual stream (token vectors)
    gpt_heads: int  # attention heads per layer (must divide gpt_d_model)
    gpt_layers: int  # transformer blocks
    gpt_context: int  # tokens of context, the length of the training windows
    gpt_batch: int  # windows per training step
    gpt_steps: int
    gpt_learning_rate: float  # peak (AdamW, linear warm-up, cosine decay)
    gpt_warmup: int  # warm-up steps
    gpt_steps_per_call: int  # training steps fused into one compiled call
    gpt_timing_max_len: int  # the step-time experiment times sequence lengths 16, 64, 256, ... up to this (tokens)
    gpt_memory_max_len: int  # the attention-memory experiment measures lengths 64, 128, ... up to this
    # --- the performance appendix (``llmcourse.performance``; ``make bench`` uses the cpu preset's) ---
    bench_steps: int  # training steps per timed round of the MFU measurement
    bench_matmul_size: int  # n of the n × n float32 matmul that measures the machine's peak rate
    bench_prompt_tokens: int  # KV-cache benchmark: prompt length ...
    bench_new_tokens: int  # ... and new tokens generated

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "name":
                continue
            if f.name == "seed":
                if not isinstance(value, int) or value < 0:
                    raise PresetError(f"preset field 'seed' must be an int >= 0, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise PresetError(
                    f"preset field {f.name!r} must be a positive number, got {value!r}"
                )

    def replace(self, **changes) -> "Preset":
        """A copy with some fields changed (validated again), e.g. ``preset().replace(mlp_steps=50)``."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise PresetError(
                f"unknown preset field(s) {unknown}; valid fields: {[f.name for f in fields(self)]}"
            )
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny", seed=0, wiki_max_chars=300_000, bigram_generate_words=12,
        gpt_vocab_size=384, gpt_d_model=32, gpt_heads=4, gpt_layers=2, gpt_context=64, gpt_batch=16, gpt_steps=60,
        gpt_learning_rate=1e-2, gpt_warmup=10, gpt_steps_per_call=30, gpt_timing_max_len=64, gpt_memory_max_len=256,
        bench_steps=20, bench_matmul_size=512, bench_prompt_tokens=32, bench_new_tokens=64,
        tokens_train_chars=200_000, bpe_vocab_size=1024,
        lm_train_chars=300_000, ngram_max_order=5, scoreboard_max_chars=50_000, sample_chars=80,
        w2v_wiki_chars=200_000, w2v_dims=32, w2v_window=5, w2v_negatives=5, w2v_min_count=5, w2v_sample=1e-3,
        w2v_epochs=1, w2v_batch=1024, w2v_learning_rate=0.025,
        rnn_hidden=32, rnn_embed=16, rnn_seq_len=32, rnn_batch=16, rnn_steps=40, rnn_learning_rate=1e-2,
        rnn_vanilla_steps=20, rnn_vanilla_learning_rate=1e-2, rnn_steps_per_call=10, rnn_eval_every=20,
        rnn_eval_chars=4096, rnn_gradient_len=60, rnn_timing_max_len=4,
        logreg_steps=30, logreg_learning_rate=0.05, logreg_folds=2, logreg_repeats=1, logreg_curve_points=2,
        mlp_hidden=32, mlp_steps=60, mlp_batch=64, autoencoder_steps=60, eval_every=20,
        overfit_steps=60, compare_seeds=1,
    ),
    "cpu": Preset(
        name="cpu", seed=0, wiki_max_chars=2_000_000, bigram_generate_words=20,
        gpt_vocab_size=1024, gpt_d_model=64, gpt_heads=4, gpt_layers=2, gpt_context=64, gpt_batch=64, gpt_steps=1000,
        gpt_learning_rate=1e-2, gpt_warmup=50, gpt_steps_per_call=50, gpt_timing_max_len=1024, gpt_memory_max_len=2048,
        bench_steps=200, bench_matmul_size=2048, bench_prompt_tokens=128, bench_new_tokens=512,
        tokens_train_chars=2_000_000, bpe_vocab_size=8192,
        lm_train_chars=10_000_000, ngram_max_order=10, scoreboard_max_chars=10_000_000, sample_chars=240,
        w2v_wiki_chars=10_000_000, w2v_dims=100, w2v_window=5, w2v_negatives=5, w2v_min_count=5, w2v_sample=1e-3,
        w2v_epochs=10, w2v_batch=1024, w2v_learning_rate=0.025,
        rnn_hidden=256, rnn_embed=64, rnn_seq_len=64, rnn_batch=32, rnn_steps=800, rnn_learning_rate=1e-2,
        rnn_vanilla_steps=300, rnn_vanilla_learning_rate=1e-2, rnn_steps_per_call=25, rnn_eval_every=100,
        rnn_eval_chars=32_768, rnn_gradient_len=100, rnn_timing_max_len=256,
        logreg_steps=100, logreg_learning_rate=0.05, logreg_folds=5, logreg_repeats=30, logreg_curve_points=5,
        mlp_hidden=128, mlp_steps=1500, mlp_batch=128, autoencoder_steps=2000, eval_every=50,
        overfit_steps=2000, compare_seeds=3,
    ),
    "gpu": Preset(
        name="gpu", seed=0, wiki_max_chars=3_000_000, bigram_generate_words=30,
        gpt_vocab_size=4096, gpt_d_model=256, gpt_heads=8, gpt_layers=6, gpt_context=256, gpt_batch=64, gpt_steps=3000,
        gpt_learning_rate=1e-3,
        gpt_warmup=100, gpt_steps_per_call=100, gpt_timing_max_len=4096, gpt_memory_max_len=4096,
        bench_steps=200, bench_matmul_size=8192, bench_prompt_tokens=128, bench_new_tokens=512,
        tokens_train_chars=3_000_000, bpe_vocab_size=16384,
        lm_train_chars=10_000_000, ngram_max_order=12, scoreboard_max_chars=10_000_000, sample_chars=400,
        w2v_wiki_chars=10_000_000, w2v_dims=100, w2v_window=5, w2v_negatives=5, w2v_min_count=5, w2v_sample=1e-3,
        w2v_epochs=20, w2v_batch=1024, w2v_learning_rate=0.025,
        rnn_hidden=512, rnn_embed=128, rnn_seq_len=128, rnn_batch=64, rnn_steps=4000, rnn_learning_rate=5e-3,
        rnn_vanilla_steps=2000, rnn_vanilla_learning_rate=5e-3, rnn_steps_per_call=50, rnn_eval_every=250,
        rnn_eval_chars=65_536, rnn_gradient_len=200, rnn_timing_max_len=512,
        logreg_steps=100, logreg_learning_rate=0.05, logreg_folds=5, logreg_repeats=50, logreg_curve_points=5,
        mlp_hidden=256, mlp_steps=3000, mlp_batch=256, autoencoder_steps=4000, eval_every=100,
        overfit_steps=3000, compare_seeds=5,
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
