"""Run every benchmark and print its table: ``python -m benchmarks [name ...]``."""

import sys

from benchmarks import bpe, engine, transformer, word2vec

ALL = {"engine": engine.main, "bpe": bpe.main, "word2vec": word2vec.main,
       "transformer": transformer.main}

if __name__ == "__main__":
    names = sys.argv[1:] or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; available: {', '.join(ALL)}")
    for name in names:
        ALL[name]()
