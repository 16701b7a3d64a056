"""The figures the book draws more than once.

* ``history`` — a training curve and its validation points, from a training ``History``
  (chapters 3, 6 and 8);
* ``digit_images`` and ``digit_points`` — 8×8 digits as pictures, and 2-D points coloured by the
  digit they stand for (chapter 3, several times).

Each function draws on the axes it is given (or on new ones) and returns them, so a notebook cell
can set titles, scales and limits afterwards.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from llmcourse.training import History


def history(history: History, metric: str = "loss", ax=None, smooth: int = 0, label: str = ""):
    """The training curve of ``metric`` and its validation points on ``ax`` (new axes when None).

    ``smooth`` > 1 replaces the training curve by its moving average over that many steps (drawn
    at the last step of each window); ``label`` prefixes the legend entries, for several runs on
    one pair of axes.
    """
    if metric not in history.train and metric not in history.eval:
        raise KeyError(f"the history has no metric {metric!r}; it has {sorted(set(history.train) | set(history.eval))}")
    ax = ax or plt.subplots()[1]
    prefix = f"{label} " if label else ""
    if metric in history.train:
        y = np.asarray(history.train[metric])
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            x = np.asarray(history.steps)[smooth - 1 :]
        else:
            x = history.steps
        ax.plot(x, y, label=f"{prefix}training {metric}", alpha=0.9)
    if metric in history.eval:
        ax.plot(history.eval_steps, history.eval[metric], "o-", label=f"{prefix}validation {metric}")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.legend()
    return ax


def digit_images(images, titles=None, axes=None, cmap: str = "gray_r"):
    """Draw 64-number rows as 8×8 pictures, one per axis (a new row of axes when ``axes`` is None)."""
    images = np.asarray(images).reshape(-1, 8, 8)
    if axes is None:
        _, axes = plt.subplots(1, len(images), figsize=(1.1 * len(images), 1.4))
    axes = np.atleast_1d(axes).ravel()
    for i, (ax, image) in enumerate(zip(axes, images)):
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.grid(False)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    return axes


def digit_points(ax, points, labels, title: str = ""):
    """A scatter of 2-D points coloured by digit, with each digit drawn at the centre of its points."""
    points, labels = np.asarray(points), np.asarray(labels)
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=10, alpha=0.8)
    for digit in np.unique(labels):
        cx, cy = points[labels == digit].mean(0)
        ax.text(cx, cy, str(digit), fontsize=13, weight="bold", ha="center", va="center",
                bbox={"boxstyle": "circle,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})
    ax.set_title(title, fontsize=10)
    ax.set_xticks([]), ax.set_yticks([])
    return ax


__all__ = ["history", "digit_images", "digit_points"]
