"""Measuring models: accuracy, cross-validation folds, and (from chapter 5) bits per character."""

from __future__ import annotations

import numpy as np


def accuracy(predicted, target) -> float:
    """Fraction of positions where ``predicted == target`` (both 1-D, same length)."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape or predicted.ndim != 1:
        raise ValueError(
            f"accuracy needs two 1-D arrays of the same length, got shapes {predicted.shape} and {target.shape}"
        )
    if predicted.size == 0:
        raise ValueError("accuracy of zero examples is undefined")
    return float(np.mean(predicted == target))


def kfold_splits(n: int, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train_index, test_index) pairs: every example is held out exactly once."""
    if k < 2:
        raise ValueError(f"k must be >= 2 for cross-validation, got {k}")
    if n < k:
        raise ValueError(f"cannot make {k} folds from {n} examples")
    order = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(order, k)
    return [
        (np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(fold))
        for i, fold in enumerate(folds)
    ]
