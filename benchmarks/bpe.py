"""The incremental BPE trainer against the textbook loop, and BPE encoding speed.

Printed:

* training: ``train_bpe_merges`` (pair counts updated only where a merge changed something, a heap
  for the next pair) vs ``train_bpe_merges_naive`` (every pair recounted after every merge), on the
  first 1,000,000 characters of the Wikipedia training split, same vocabulary size; both must learn
  identical merges. The ratio is naive time / incremental time (target >= 20);
* encoding: a tokenizer trained that way encodes the validation split, first with an empty chunk
  cache (cold) and then again (warm); MB/s counts UTF-8 bytes, and tokens per character shows how
  much the merges shorten the text.
"""

from __future__ import annotations

import time

from llmcourse.data import wikipedia_text
from llmcourse.tokenizers import BPETokenizer, train_bpe_merges, train_bpe_merges_naive

TRAIN_CHARS = 1_000_000
N_MERGES = 500
VOCAB_SIZE = 256 + N_MERGES


def _timed(fn, *args):
    """(result, wall-clock seconds, CPU seconds of this process). On a shared machine the CPU time
    is the steadier number: waiting for a core counts in the wall-clock time only."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main():
    train = wikipedia_text("train", max_chars=TRAIN_CHARS)
    validation = wikipedia_text("validation")
    print(f"\n== BPE: incremental trainer vs naive loop ({len(train):,} characters, {N_MERGES} merges) ==")
    fast, t_fast, c_fast = _timed(train_bpe_merges, train, VOCAB_SIZE)
    slow, t_slow, c_slow = _timed(train_bpe_merges_naive, train, VOCAB_SIZE)
    assert fast == slow, "the incremental trainer learned different merges from the naive loop"
    print(f"  {'trainer':<34} {'wall s':>9} {'CPU s':>9}")
    print(f"  {'train_bpe_merges (incremental)':<34} {t_fast:9.2f} {c_fast:9.2f}")
    print(f"  {'train_bpe_merges_naive':<34} {t_slow:9.2f} {c_slow:9.2f}")
    print(f"  identical merges: yes ({len(fast)}); speed-up naive/incremental: {t_slow / t_fast:.1f}x wall-clock, "
          f"{c_slow / c_fast:.1f}x CPU time (target >= 20x)")

    n_bytes = len(validation.encode("utf-8"))
    tok = BPETokenizer(fast)
    ids, t_cold, c_cold = _timed(tok.encode, validation)
    _, t_warm, c_warm = _timed(tok.encode, validation)
    assert tok.decode(ids) == validation
    print(f"\n== BPE encoding of the validation split ({len(validation):,} characters, {n_bytes / 1e6:.2f} MB) ==")
    mb = n_bytes / 1e6
    print(f"  cold cache: {mb / t_cold:6.2f} MB/s wall-clock, {mb / c_cold:6.2f} MB/s CPU time")
    print(f"  warm cache: {mb / t_warm:6.2f} MB/s wall-clock, {mb / c_warm:6.2f} MB/s CPU time")
    print(f"  tokens per character: {len(ids) / len(validation):.3f} (vocabulary {tok.vocab_size:,})")
    return {"incremental_s": t_fast, "naive_s": t_slow, "ratio": t_slow / t_fast, "cpu_ratio": c_slow / c_fast,
            "encode_cold_mb_s": n_bytes / 1e6 / t_cold, "encode_warm_mb_s": n_bytes / 1e6 / t_warm,
            "tokens_per_char": len(ids) / len(validation)}


if __name__ == "__main__":
    main()
