"""How fast the chapter-8 GPT trains and generates on this machine: the measurements behind
``make bench`` (``benchmarks/transformer.py``) and the book's performance appendix.

Everything is measured in one run on one machine, and only ratios within that run are compared:

(a) ``training_mfu`` — **training throughput and model FLOPs utilisation (MFU).** The preset's GPT
    trained by the engine (``steps_per_call`` fused steps). Model FLOPs per token are
    ``flops_per_token``: :math:`6N + 12\\,L\\,T\\,d_\\text{model}` (:math:`N` = the weights that
    multiply every token, the lookup tables left out; the second term is attention's
    :math:`QK^\\top` and :math:`AV`, forward and backward). MFU = FLOPs per token × tokens per
    second ÷ the machine's float32 matmul rate, measured in the same run as the best of several
    large ``jnp.dot`` calls (``matmul_rate``). Target: at least 35%.
(b) ``kv_cache`` — **KV cache.** 512 new tokens after a 128-token prompt (``cfg.bench_*``), greedy,
    by a GPT of the preset's width and depth whose context holds prompt and answer (sinusoidal
    positions, trained briefly on real text so that greedy decoding does not repeat one token).
    Both loops are one compiled ``fori_loop`` (``generation.generate_cached``): with the cache each
    step computes one position; without it each step runs the model over the whole context again.
    Also timed: chapter 5's plain Python loop (``generation.generate``) calling a compiled forward
    pass per token. Target: at least 10 times faster, identical tokens.
(c) ``engine_vs_hand_written`` — **the engine against a hand-written step.** One training step of
    the preset's GPT: the engine's compiled step against a hand-written ``jax.jit`` step (pure
    functions over the ``nnx.split`` parameters, an optax state, donated buffers). Ratio =
    hand-written time / engine time; target at least 0.95.

Timings are the best of several rounds, interleaved where two methods are compared, so that a
busy machine slows every method alike.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from llmcourse import generation
from llmcourse.data import TokenWindows, wikipedia_text
from llmcourse.models.transformer import GPT, flops_per_token, loss_fn, parameter_count
from llmcourse.tokenizers import BPETokenizer
from llmcourse.training import TrainConfig, Trainer

MFU_TARGET, CACHE_TARGET, ENGINE_TARGET = 0.35, 10.0, 0.95


def _best(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> str:
    """The devices and processor the numbers were measured on."""
    return f"{jax.devices()[0].platform} × {jax.device_count()}; {platform.processor() or platform.machine()}"


def matmul_rate(n: int = 2048, calls: int = 5, repeats: int = 5) -> float:
    """FLOP/s of an ``n × n`` by ``n × n`` float32 matmul (:math:`2n^3` FLOPs), best of ``repeats``."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    f = jax.jit(jnp.dot)
    f(a, b).block_until_ready()

    def run():
        for _ in range(calls):
            out = f(a, b)
        out.block_until_ready()

    return 2 * n**3 * calls / _best(run, repeats)


def _gpt(cfg, context: int | None = None, positions: str = "learned") -> GPT:
    return GPT(cfg.gpt.vocab_size, context or cfg.gpt.context, cfg.gpt.d_model, cfg.gpt.heads, cfg.gpt.layers,
               positions=positions, tie_embeddings=False, rngs=nnx.Rngs(0))


def _random_windows(cfg, length: int | None = None, seed: int = 0) -> TokenWindows:
    ids = np.random.default_rng(seed).integers(0, cfg.gpt.vocab_size, 1_000_000).astype(np.int32)
    return TokenWindows(ids, length or cfg.gpt.context, seed=seed)


def _text_ids(cfg, chars: int = 300_000) -> np.ndarray:
    """The first ``chars`` training characters as BPE tokens of the preset's vocabulary size."""
    text = wikipedia_text("train", max_chars=chars)
    return np.asarray(BPETokenizer.train(text, cfg.gpt.vocab_size).encode(text), np.int32)


# --------------------------------------------------------------------------- (a) throughput and MFU
@dataclass(frozen=True)
class TrainingMFU:
    parameters: int
    flops_per_token: float
    tokens_per_second: float
    seconds_per_step: float
    matmul_flops_per_second: float  # this machine's float32 matmul rate, measured in the same run

    @property
    def achieved_flops_per_second(self) -> float:
        return self.tokens_per_second * self.flops_per_token

    @property
    def mfu(self) -> float:
        return self.achieved_flops_per_second / self.matmul_flops_per_second


def training_mfu(cfg, steps: int | None = None, rounds: int = 3) -> TrainingMFU:
    """Engine training of the preset's GPT on random tokens (the arithmetic does not depend on the
    text): the best of ``rounds`` fits of ``steps`` steps (default ``cfg.bench.steps``), after one
    fit that compiles. The matmul rate is measured before and after, and the higher kept."""
    steps = steps or cfg.bench.steps
    rate = matmul_rate(cfg.bench.matmul_size)
    model = _gpt(cfg)
    config = TrainConfig(steps=steps, batch_size=cfg.gpt.batch, learning_rate=cfg.gpt.learning_rate,
                         steps_per_call=min(cfg.gpt.steps_per_call, steps), log_every=min(cfg.gpt.steps_per_call, steps),
                         progress=False)
    trainer = Trainer(model, loss_fn, config)
    data = _random_windows(cfg)
    trainer.fit(data)  # compiles
    seconds = _best(lambda: trainer.fit(data), rounds)
    rate = max(rate, matmul_rate(cfg.bench.matmul_size))
    tokens = steps * cfg.gpt.batch * cfg.gpt.context
    return TrainingMFU(parameter_count(model), flops_per_token(model), tokens / seconds, seconds / steps, rate)


# --------------------------------------------------------------------------- (b) the KV cache
@dataclass(frozen=True)
class CacheRun:
    method: str
    seconds: float  # best of the repeats, compilation excluded (for the compiled loops)
    first_call_seconds: float  # compilation included (nan for the Python loop, which is timed once)
    tokens: list


@dataclass(frozen=True)
class KVCache:
    prompt_tokens: int
    new_tokens: int
    parameters: int
    runs: list  # CacheRun, the cached loop first

    @property
    def cached(self) -> CacheRun:
        return self.runs[0]

    def speedup(self, method: str) -> float:
        return next(r for r in self.runs if r.method == method).seconds / self.cached.seconds

    @property
    def same_tokens(self) -> bool:
        return all(r.tokens == self.cached.tokens for r in self.runs)


CACHED = "KV cache, one compiled loop"
RECOMPUTED = "recompute the context, one compiled loop"
PYTHON_LOOP = "recompute, plain Python loop (generation.generate)"


def kv_cache(cfg, prompt_tokens: int | None = None, new_tokens: int | None = None, repeats: int = 3,
             train_steps: int | None = None, python_loop: bool = True) -> KVCache:
    """Greedy generation with and without the KV cache (see the module's description); by default
    ``cfg.bench.prompt_tokens`` and ``cfg.bench.new_tokens``."""
    prompt_tokens = prompt_tokens or cfg.bench.prompt_tokens
    new_tokens = new_tokens or cfg.bench.new_tokens
    train_steps = train_steps or cfg.bench.steps
    context = prompt_tokens + new_tokens
    model = _gpt(cfg, context=context, positions="sinusoidal")
    text = _text_ids(cfg)
    Trainer(model, loss_fn, TrainConfig(steps=train_steps, batch_size=cfg.gpt.batch, learning_rate=cfg.gpt.learning_rate,
                                        steps_per_call=min(cfg.gpt.steps_per_call, train_steps), progress=False)).fit(
        TokenWindows(text, min(cfg.gpt.context, context), seed=0))
    prompt = text[:prompt_tokens].tolist()
    runs = []
    for method, use_cache in ((CACHED, True), (RECOMPUTED, False)):
        def run(use_cache=use_cache):
            return generation.generate_cached(model, prompt, new_tokens, use_greedy=True, use_cache=use_cache)

        start = time.perf_counter()
        tokens = run()
        first = time.perf_counter() - start
        runs.append(CacheRun(method, _best(run, repeats), first, tokens))
    if python_loop:
        forward = jax.jit(lambda state, ids: nnx.merge(graphdef, state)(ids))
        graphdef, state = nnx.split(model)
        buffer = np.zeros((1, context), np.int32)

        def next_logits(ids):  # chapter 5's generate: the whole text so far, every step (padded: one shape)
            buffer[0, : len(ids)] = ids
            return forward(state, jnp.asarray(buffer))[0, len(ids) - 1]

        next_logits(prompt)  # compiles
        start = time.perf_counter()
        tokens = generation.generate(next_logits, prompt, new_tokens, use_greedy=True)
        runs.append(CacheRun(PYTHON_LOOP, time.perf_counter() - start, float("nan"), tokens))
    return KVCache(prompt_tokens, new_tokens, parameter_count(model), runs)


# --------------------------------------------------------------------------- (c) engine vs hand-written
@dataclass(frozen=True)
class EngineStep:
    hand_written_seconds: float  # per step
    engine_seconds: float

    @property
    def ratio(self) -> float:
        """Hand-written time / engine time: 1 means the engine costs nothing extra."""
        return self.hand_written_seconds / self.engine_seconds


def hand_written_step(loss, tx: optax.GradientTransformation):
    """The training step a JAX programmer writes by hand, the baseline the engine is measured
    against: ``jax.jit`` of ``value_and_grad`` and the optax update over plain arrays, the parameter
    and optimizer buffers donated. ``loss(params, batch)`` returns a scalar;
    ``step(params, opt_state, batch)`` returns ``(params, opt_state, loss)``."""

    @jax.jit(donate_argnums=(0, 1))
    def step(params, opt_state, batch):
        value, grads = jax.value_and_grad(loss)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step


def engine_vs_hand_written(cfg, calls: int | None = None, rounds: int = 5) -> EngineStep:
    """Seconds per step of the engine's compiled step and of a hand-written ``jax.jit`` step on the
    preset's GPT, the same batch, optimizer and donation; ``rounds`` interleaved rounds of ``calls``
    steps each (default ``cfg.bench.steps // 4``), the best of each."""
    calls = calls or max(5, cfg.bench.steps // 4)
    config = TrainConfig(steps=calls, batch_size=cfg.gpt.batch, learning_rate=cfg.gpt.learning_rate, progress=False)
    tx = config.optax_transform()
    batch = _random_windows(cfg).next_batch(cfg.gpt.batch)
    graphdef, params = nnx.split(_gpt(cfg), nnx.Param)

    def hand_loss(params, batch):
        logits = nnx.merge(graphdef, params)(batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()

    hand_step = hand_written_step(hand_loss, tx)
    state = [params, tx.init(params)]
    device_batch = jax.device_put(batch)

    def run_hand():
        p, o = state
        for _ in range(calls):
            p, o, loss = hand_step(p, o, device_batch)
        jax.block_until_ready(loss)
        state[:] = [p, o]

    trainer = Trainer(_gpt(cfg), loss_fn, config)
    sharded = trainer._shard(batch)

    def run_engine():
        for _ in range(calls):
            trainer.state, metrics = trainer._train_step(trainer.state, sharded)
        jax.block_until_ready(metrics)

    run_hand(), run_engine()  # compile
    hand = engine = math.inf
    for _ in range(rounds):  # interleaved
        hand = min(hand, _best(run_hand, 1) / calls)
        engine = min(engine, _best(run_engine, 1) / calls)
    return EngineStep(hand, engine)


# --------------------------------------------------------------------------- printed report
def report(cfg, mfu: TrainingMFU, cache: KVCache, engine: EngineStep) -> str:
    lines = [f"== chapter-8 GPT ({cfg.gpt.layers} layers, d_model {cfg.gpt.d_model}, {cfg.gpt.heads} heads, context "
             f"{cfg.gpt.context}, batch {cfg.gpt.batch}, V = {cfg.gpt.vocab_size}; {machine()}) ==",
             "", "(a) training throughput and model FLOPs utilisation",
             f"  parameters {mfu.parameters:,}; FLOPs per token 6N + 12 L T d = {mfu.flops_per_token / 1e6:.2f} M",
             f"  float32 matmul rate ({cfg.bench.matmul_size}³): {mfu.matmul_flops_per_second / 1e9:.1f} GFLOP/s",
             f"  training: {mfu.tokens_per_second:,.0f} tokens/s ({mfu.seconds_per_step * 1e3:.1f} ms/step), "
             f"{mfu.achieved_flops_per_second / 1e9:.1f} GFLOP/s",
             f"  MFU = {mfu.mfu:.0%} of the measured matmul rate (target >= {MFU_TARGET:.0%})",
             "", f"(b) generating {cache.new_tokens} tokens after a {cache.prompt_tokens}-token prompt (greedy; "
             f"{cache.parameters:,} parameters, context {cache.prompt_tokens + cache.new_tokens})",
             f"  {'method':<52} {'seconds':>8} {'first call':>11} {'vs cache':>9} {'same tokens':>12}"]
    for r in cache.runs:
        lines.append(f"  {r.method:<52} {r.seconds:8.3f} {r.first_call_seconds:11.2f} "
                     f"{r.seconds / cache.cached.seconds:8.1f}× {str(r.tokens == cache.cached.tokens):>12}")
    lines += [f"  distinct generated tokens: {len(set(cache.cached.tokens[cache.prompt_tokens:]))}; speed-up over "
              f"recomputing (target >= {CACHE_TARGET:g}): {cache.speedup(RECOMPUTED):.1f}×",
              "", "(c) one training step, engine vs hand-written jax.jit",
              f"  hand-written jax.jit step: {engine.hand_written_seconds * 1e3:.2f} ms;  engine step: "
              f"{engine.engine_seconds * 1e3:.2f} ms;  hand/engine = {engine.ratio:.2f} (target >= {ENGINE_TARGET})"]
    return "\n".join(lines)
