"""The figures the book draws more than once.

* ``history`` — a training curve and its validation points, from a training ``History``
  (chapters 3, 6 and 8);
* ``digit_images`` and ``digit_points`` — 8×8 digits as pictures, and 2-D points coloured by the
  digit they stand for (chapter 3, several times);
* ``label_points`` — a word (or any label) next to each point of a scatter, placed so that no two
  labels overlap (chapter 6's map of words).

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
    one pair of axes. The legend and the axis say the metric in words (``bits_per_token`` as "bits per
    token").
    """
    if metric not in history.train and metric not in history.eval:
        raise KeyError(f"the history has no metric {metric!r}; it has {sorted(set(history.train) | set(history.eval))}")
    ax = ax or plt.subplots()[1]
    prefix = f"{label} " if label else ""
    words = metric.replace("_", " ")
    if metric in history.train:
        y = np.asarray(history.train[metric])
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            x = np.asarray(history.steps)[smooth - 1 :]
        else:
            x = history.steps
        ax.plot(x, y, label=f"{prefix}training {words}", alpha=0.9)
    if metric in history.eval:
        ax.plot(history.eval_steps, history.eval[metric], "o-", label=f"{prefix}validation {words}")
    ax.set_xlabel("step")
    ax.set_ylabel(words)
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


_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))


def label_points(ax, points, labels, fontsize: float = 8, gap: float = 4.0, rings: int = 12, **text_kwargs):
    """Write each label next to its point so that no two labels overlap, and no label covers a point.

    Greedy, in the order given: around each point, try eight places (above right first) ``gap``
    typographic points away, then ``2 * gap``, ... up to ``rings * gap``; keep the first place whose
    box stays inside the axes and meets no label placed before and no point (a marker of the default
    scatter size). A label that had to move further than two rings gets a thin line to its point.
    Boxes are measured on the screen, so call this last, once the figure's size, layout and the axes'
    limits are final (the limits are frozen here). Returns the annotations, one per label.
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    half = 3.0 * fig.dpi / 72  # the square kept clear around each point: a default scatter marker, in pixels
    taken = [Bbox.from_extents(x - half, y - half, x + half, y + half) for x, y in ax.transData.transform(points)]
    inside = ax.get_window_extent(renderer)
    placed = []
    for (x, y), label in zip(points, labels):
        choice = None
        for ring in range(1, rings + 1):
            for dx, dy in _DIRECTIONS:
                offset = (dx * gap * ring, dy * gap * ring)
                align = {"ha": ("center", "left", "right")[dx], "va": ("center", "bottom", "top")[dy]}
                text = ax.annotate(label, (x, y), xytext=offset, textcoords="offset points", fontsize=fontsize,
                                   **align, **text_kwargs)
                box = text.get_window_extent(renderer).padded(1)  # no line yet: the text alone
                text.remove()
                fits = inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
                if fits and not any(box.overlaps(other) for other in taken):
                    choice = (ring, offset, align, box)
                    break
            if choice:
                break
        if choice is None:  # nowhere free: the first place, overlapping
            choice = (1, (gap, gap), {"ha": "left", "va": "bottom"}, None)
        ring, offset, align, box = choice
        line = {"arrowprops": {"arrowstyle": "-", "lw": 0.5, "color": "grey", "shrinkA": 0, "shrinkB": 2}} if ring > 2 else {}
        placed.append(ax.annotate(label, (x, y), xytext=offset, textcoords="offset points", fontsize=fontsize,
                                  **align, **line, **text_kwargs))
        if box is not None:
            taken.append(box)
    return placed


__all__ = ["history", "digit_images", "digit_points", "label_points"]
