"""The chapter-8 GPT: (a) training throughput and model FLOPs utilisation, (b) KV-cached generation
against recomputing the context, (c) the training engine against a hand-written ``jax.jit`` step.

The measurements live in ``llmcourse.performance`` (the book's performance appendix runs the same
functions); this prints them for the ``cpu`` preset: ``python -m benchmarks transformer``.
"""

from __future__ import annotations

from llmcourse import performance
from llmcourse.config import preset


def main(preset_name: str = "cpu"):
    cfg = preset(preset_name)
    mfu = performance.training_mfu(cfg)
    cache = performance.kv_cache(cfg)
    engine = performance.engine_vs_hand_written(cfg)
    print("\n" + performance.report(cfg, mfu, cache, engine))


if __name__ == "__main__":
    main()
