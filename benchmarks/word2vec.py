"""word2vec: llmcourse against gensim (``workers=2``), and three ways to update the embedding tables.

Printed:

* **vs gensim** — the cpu preset's corpus (the Wikipedia train split + the Lee corpus) and
  hyper-parameters, skip-gram and CBOW, each trained by gensim's C loops with ``workers=2`` and by
  ``llmcourse`` in the same run on the same machine, interleaved. Words per second count every word
  of the sentences × epochs, over the wall time of training (gensim: ``train``; llmcourse: example
  generation, compilation and the steps; building the vocabulary excluded for both). Also per
  CPU-second, which a busy machine disturbs less. Quality: gensim's own ``evaluate_word_pairs``
  (Spearman ρ with WordSim-353 and SimLex-999) and ``evaluate_word_analogies``. Targets: ρ within
  0.02 of gensim's, words per second ≥ 1.0× gensim's. For skip-gram one more llmcourse run keeps
  the pairs in text order (``shuffle=False``), the order gensim trains in: it separates the effect
  of shuffling from that of the implementation.
* **update strategies** — the same skip-gram batches (1024 pairs, 5 noise words each) through the
  engine three ways, steps only (batches made beforehand): (a) gather and scatter only the rows of
  the batch (``sparse_sgd_update``, what the package uses); (b) 64 noise words shared by the whole
  batch, scored with matrix products (weighted K/64 so the expected gradient is the same), with its
  ρ after full training; (0) the engine's default dense path: the gradient of the whole tables and
  an optax SGD update of every row.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from llmcourse.config import preset
from llmcourse.experiments.word_embeddings import evaluate_vectors, train_config, train_gensim, train_word2vec
from llmcourse.models.word2vec import (
    Vocabulary,
    Word2Vec,
    Word2VecData,
    Word2VecSettings,
    sparse_sgd_update,
    training_sentences,
    word2vec_loss,
)
from llmcourse.training import Trainer

SHARED_NOISE = 64  # noise words per batch in strategy (b)


# --------------------------------------------------------------------------- strategy (b): shared noise
def shared_noise_update(negatives: int):
    """An ``update`` for the engine: every pair of the batch uses the same ``S`` noise words, so the
    noise scores are one matrix product ``(B, d) @ (d, S)``; each noise term is weighted
    ``negatives / S`` so the expected gradient equals that of ``negatives`` noise words per pair."""

    def update(model, batch, learning_rate):
        centre, context, noise = batch["inputs"][:, 0], batch["targets"][:, 0], batch["noise"]  # (B,), (B,), (S,)
        v = model.input_vectors[...][centre]  # (B, d)
        u_true = model.output_vectors[...][context]  # (B, d)
        u_noise = model.output_vectors[...][noise]  # (S, d)
        weight = (negatives / noise.shape[0]) * (noise[None, :] != context[:, None])  # (B, S)

        def loss(v, u_true, u_noise):
            true = jnp.sum(v * u_true, axis=-1)  # (B,)
            fake = v @ u_noise.T  # (B, S): the matrix product
            return -(jax.nn.log_sigmoid(true).sum() + jnp.sum(weight * jax.nn.log_sigmoid(-fake)))

        total, (gv, gt, gn) = jax.value_and_grad(loss, argnums=(0, 1, 2))(v, u_true, u_noise)
        model.input_vectors[...] = model.input_vectors[...].at[centre].add(-learning_rate * gv)
        out = model.output_vectors[...].at[context].add(-learning_rate * gt)
        model.output_vectors[...] = out.at[noise].add(-learning_rate * gn)
        return total / centre.shape[0], {}

    return update


class SharedNoiseData:
    """``Word2VecData``'s skip-gram pairs with ``S`` noise words per batch instead of K per pair."""

    def __init__(self, data: Word2VecData, shared: int):
        self.data, self.shared, self._rng = data, shared, np.random.default_rng(data.settings.seed + 1)

    def next_batches(self, count, batch_size):
        b = self.data.next_batches(count, batch_size)
        b["targets"] = b["targets"][..., :1]
        b["noise"] = self.data.noise.sample((count, self.shared), self._rng)
        return b

    def next_batch(self, batch_size):
        return {k: v[0] for k, v in self.next_batches(1, batch_size).items()}


def dense_loss(model, batch):
    """The summed loss (as the sparse update sums): the engine's default path then takes the gradient
    of the whole tables — a scatter-add into zeros the size of each table — and optax SGD rewrites every row."""
    loss, aux = word2vec_loss(model, batch)
    return loss * batch["targets"].shape[0], aux


def _train_shared(sentences, settings):
    vocab = Vocabulary.build(sentences, settings.min_count)
    data = Word2VecData(vocab.encode(sentences), vocab, settings)
    per_call = settings.steps_per_call
    steps = max(1, round(settings.epochs * data.examples_per_epoch / settings.batch_size / per_call)) * per_call
    model = Word2Vec(len(vocab), settings.dims, rngs=nnx.Rngs(settings.seed))
    trainer = Trainer(model, word2vec_loss, train_config(settings, steps, progress=False),
                      update=shared_noise_update(settings.negatives))
    trainer.fit(SharedNoiseData(data, SHARED_NOISE))
    from llmcourse.models.word2vec import to_keyed_vectors

    return evaluate_vectors(to_keyed_vectors(np.asarray(model.input_vectors[...]), vocab.words))


def update_strategies(sentences, settings: Word2VecSettings, calls: int = 8, rounds: int = 3) -> dict:
    """Pairs per second (wall, CPU) of each update strategy's compiled steps, best of ``rounds``."""
    vocab = Vocabulary.build(sentences, settings.min_count)
    data = Word2VecData(vocab.encode(sentences), vocab, settings)
    per_call, batch = settings.steps_per_call, settings.batch_size
    config = train_config(settings, steps=10**6, progress=False)
    pair_batches = [data.next_batches(per_call, batch) for _ in range(calls)]
    shared = SharedNoiseData(data, SHARED_NOISE)
    shared_batches = [shared.next_batches(per_call, batch) for _ in range(calls)]

    def trainer(update, loss=word2vec_loss):
        return Trainer(Word2Vec(len(vocab), settings.dims, rngs=nnx.Rngs(0)), loss, config, update=update)

    runs = {
        "(a) gather/scatter only the batch's rows [kept]": (trainer(sparse_sgd_update), pair_batches),
        f"(b) {SHARED_NOISE} shared noise words, matrix products": (trainer(shared_noise_update(settings.negatives)), shared_batches),
        "(0) dense gradient + optax SGD of whole tables": (trainer(None, dense_loss), pair_batches),
    }
    best = {}
    for name, (t, batches) in runs.items():  # compile
        on_device = [jax.device_put(b, t.stacked_batches) for b in batches]
        runs[name] = (t, on_device)
        t.state, m = t._multi_step(t.state, on_device[0])
        jax.block_until_ready(m)
    for _ in range(rounds):  # interleaved: a load spike slows every strategy alike
        for name, (t, batches) in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for b in batches:
                t.state, m = t._multi_step(t.state, b)
            jax.block_until_ready(m)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            pairs = calls * per_call * batch
            old = best.get(name, (0.0, 0.0))
            best[name] = (max(old[0], pairs / wall), max(old[1], pairs / cpu))
    return best


def versus_gensim(sentences, settings: Word2VecSettings, repeats: int = 2, in_order: bool = False) -> dict:
    """Best wall / CPU time and mean scores of ``repeats`` interleaved runs of gensim and llmcourse
    (and, with ``in_order``, one run of llmcourse with ``shuffle=False``, text order like gensim)."""
    results = {"gensim": [], "llmcourse": []}
    for _ in range(repeats):
        g = train_gensim(sentences, settings, workers=2)
        results["gensim"].append((g.seconds, g.cpu_seconds, g.words_trained, evaluate_vectors(g.wv)))
        o = train_word2vec(sentences, settings, progress=False)
        results["llmcourse"].append((o.seconds, o.cpu_seconds, o.words_trained, evaluate_vectors(o.to_keyed_vectors())))
    if in_order:
        o = train_word2vec(sentences, settings.replace(shuffle=False), progress=False)
        results["in order"] = [(o.seconds, o.cpu_seconds, o.words_trained, evaluate_vectors(o.to_keyed_vectors()))]
    summary = {}
    for name, runs in results.items():
        words = runs[0][2]
        summary[name] = {
            "seconds": min(r[0] for r in runs), "cpu_seconds": min(r[1] for r in runs), "words": words,
            "wordsim": float(np.mean([r[3].wordsim for r in runs])), "simlex": float(np.mean([r[3].simlex for r in runs])),
            "analogy": float(np.mean([r[3].analogy for r in runs])),
            "wordsim_runs": [round(r[3].wordsim, 3) for r in runs], "simlex_runs": [round(r[3].simlex, 3) for r in runs],
        }
    return summary


def main():
    cfg = preset("cpu")
    load_before = os.getloadavg()
    sentences = training_sentences(cfg.w2v.wiki_chars)
    n_words = sum(map(len, sentences))
    base = Word2VecSettings.from_preset(cfg)
    print(f"\n== word2vec: llmcourse vs gensim (workers=2): {n_words:,} words × {base.epochs} epochs, "
          f"{base.dims} dims, window {base.window}, {base.negatives} noise words, min_count {base.min_count}, "
          f"sample {base.sample}, batch {base.batch_size} ==")
    print(f"  machine: {os.cpu_count()} CPUs, JAX {jax.__version__} on {jax.devices()[0].platform}; "
          f"load average before: {load_before[0]:.1f}")
    header = (f"  {'architecture':<10} {'implementation':<10} {'wall s':>7} {'words/s':>9} {'CPU s':>7} "
              f"{'words/CPU-s':>11} {'WordSim ρ':>9} {'SimLex ρ':>9} {'analogies':>9}")
    print(header)
    for architecture in ("skip-gram", "cbow"):
        settings = base.replace(architecture=architecture)
        s = versus_gensim(sentences, settings, in_order=architecture == "skip-gram")
        for name in s:
            r = s[name]
            print(f"  {architecture:<10} {name:<10} {r['seconds']:7.1f} {r['words'] / r['seconds']:9,.0f} "
                  f"{r['cpu_seconds']:7.1f} {r['words'] / r['cpu_seconds']:11,.0f} {r['wordsim']:9.3f} "
                  f"{r['simlex']:9.3f} {r['analogy']:9.1%}")
        g, o = s["gensim"], s["llmcourse"]
        print(f"  {'':<10} llmcourse/gensim: words/s {g['seconds'] / o['seconds']:.2f}x (target >= 1.0), "
              f"per CPU-second {g['cpu_seconds'] / o['cpu_seconds']:.2f}x; ρ difference WordSim "
              f"{o['wordsim'] - g['wordsim']:+.3f}, SimLex {o['simlex'] - g['simlex']:+.3f} (target within ±0.02; "
              f"gensim runs {g['wordsim_runs']} / {g['simlex_runs']})")
        if "in order" in s:
            n = s["in order"]
            print(f"  {'':<10} 'in order' = llmcourse with shuffle=False (text order, as gensim): ρ difference from gensim "
                  f"WordSim {n['wordsim'] - g['wordsim']:+.3f}, SimLex {n['simlex'] - g['simlex']:+.3f}")

    settings = base.replace(architecture="skip-gram")
    print(f"\n== word2vec update strategies (skip-gram, batch {settings.batch_size}, {settings.negatives} noise words, "
          f"{settings.steps_per_call} steps per compiled call; steps only) ==")
    speeds = update_strategies(sentences, settings)
    kept = speeds["(a) gather/scatter only the batch's rows [kept]"]
    print(f"  {'strategy':<58} {'pairs/s':>10} {'pairs/CPU-s':>12} {'vs (a)':>7} {'per CPU-s':>9}")
    for name, (wall, cpu) in speeds.items():
        print(f"  {name:<58} {wall:10,.0f} {cpu:12,.0f} {wall / kept[0]:7.2f} {cpu / kept[1]:9.2f}")
    shared = _train_shared(sentences, settings)
    print(f"  (b) after full training: WordSim ρ {shared.wordsim:.3f}, SimLex ρ {shared.simlex:.3f} "
          "(compare with llmcourse skip-gram above)")
    print(f"  load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
