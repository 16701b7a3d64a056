"""The performance measurements (``llmcourse.performance``): what they compute, not how fast —
speed is measured by ``make bench`` and shown on the performance page, never asserted here."""

from __future__ import annotations

import math

import pytest

from llmcourse import performance
from llmcourse.config import preset
from llmcourse.models.transformer import flops_per_token


@pytest.fixture(scope="module")
def tiny():
    return preset("tiny")


def test_mfu_is_model_arithmetic_over_the_matmul_rate(tiny):
    m = performance.training_mfu(tiny, steps=4, rounds=1)
    gpt = performance._gpt(tiny)
    assert m.flops_per_token == flops_per_token(gpt) and m.parameters > 0
    assert m.tokens_per_second == pytest.approx(tiny.gpt.batch * tiny.gpt.context / m.seconds_per_step)
    assert m.mfu == pytest.approx(m.tokens_per_second * m.flops_per_token / m.matmul_flops_per_second)
    assert 0 < m.mfu < 1.5  # a measured share of the machine: never wildly above 1


def test_kv_cache_runs_give_the_same_tokens(tiny):
    c = performance.kv_cache(tiny, prompt_tokens=8, new_tokens=12, repeats=1, train_steps=2)
    assert [r.method for r in c.runs] == [performance.CACHED, performance.RECOMPUTED, performance.PYTHON_LOOP]
    assert c.same_tokens and len(c.cached.tokens) == 8 + 12
    assert c.speedup(performance.CACHED) == 1.0
    assert math.isnan(c.runs[-1].first_call_seconds)  # the Python loop is timed once, compiled beforehand


def test_engine_ratio_and_report(tiny):
    e = performance.engine_vs_hand_written(tiny, calls=2, rounds=1)
    assert e.ratio == e.hand_written_seconds / e.engine_seconds > 0
    m = performance.TrainingMFU(1000, 6e3, 1e5, 0.01, 1e10)
    c = performance.KVCache(2, 3, 50, [performance.CacheRun(performance.CACHED, 0.1, 1.0, [1, 2, 3, 4, 5]),
                                       performance.CacheRun(performance.RECOMPUTED, 2.0, 3.0, [1, 2, 3, 4, 5])])
    text = performance.report(tiny, m, c, performance.EngineStep(0.9, 1.0))
    assert "MFU = 6% of the measured matmul rate (target >= 35%)" in text
    assert "speed-up over recomputing (target >= 10): 20.0×" in text
    assert "hand/engine = 0.90 (target >= 0.95)" in text


def test_the_hand_written_step_does_the_engines_work(tiny):
    """The baseline of the engine benchmark is the same computation: one step from the same
    parameters on the same batch gives the same loss and the same new parameters."""
    import jax
    import numpy as np
    import optax
    from flax import nnx

    from llmcourse.models.transformer import loss_fn
    from llmcourse.training import TrainConfig, Trainer

    config = TrainConfig(steps=1, batch_size=tiny.gpt.batch, learning_rate=tiny.gpt.learning_rate, progress=False)
    batch = performance._random_windows(tiny).next_batch(tiny.gpt.batch)
    graphdef, params = nnx.split(performance._gpt(tiny), nnx.Param)

    def loss(p, b):
        return optax.softmax_cross_entropy_with_integer_labels(nnx.merge(graphdef, p)(b["x"]), b["y"]).mean()

    tx = config.optax_transform()
    new_params, _, hand_loss = performance.hand_written_step(loss, tx)(params, tx.init(params), batch)
    model = performance._gpt(tiny)
    trainer = Trainer(model, loss_fn, config)
    trainer.state, metrics = trainer._train_step(trainer.state, trainer._shard(batch))
    trainer.sync_model()
    assert float(metrics["loss"]) == pytest.approx(float(hand_loss), rel=1e-5)
    for a, b in zip(jax.tree.leaves(nnx.state(model, nnx.Param)), jax.tree.leaves(new_params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_page_keeps_the_machinery_out_of_sight():
    """The performance page: glue calls in hidden cells (remove-cell) holding nothing but glue calls; no
    "target / meets / misses" wording; the 12·L·T·d attention term credited to Chowdhery et al. 2022
    (PaLM); every figure with an alt text in words."""
    import ast
    import re
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[1]
    nb = nbformat.read(root / "chapters" / "appendix" / "performance.ipynb", as_version=4)
    hidden = [i for i, c in enumerate(nb.cells) if "remove-cell" in c.metadata.get("tags", [])]
    assert hidden
    for i, cell in enumerate(nb.cells):
        if i in hidden:
            assert cell.cell_type == "code" and i - 1 not in hidden
            for statement in ast.parse(cell.source).body:
                call = statement.value if isinstance(statement, ast.Expr) else None
                assert isinstance(call, ast.Call) and ast.unparse(call.func) == "llmcourse.glue", ast.unparse(statement)
        elif cell.cell_type == "code":
            assert "glue(" not in cell.source, cell.source
            if "plt.show()" in cell.source:
                alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
                assert len(alt.split()) >= 8 and "/" not in alt, alt
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not re.search(r"\b(target|meets|misses)\b", prose, re.I)
    attention_term = prose.index(r"12\,L\,T\,d_\text{model}")
    assert "chowdhery2022palm" in prose[attention_term:attention_term + 200]
    assert "{chowdhery2022palm," in (root / "references.bib").read_text()
