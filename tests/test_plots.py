"""llmcourse.plots: the figures the book draws more than once."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from llmcourse import plots  # noqa: E402
from llmcourse.training import History  # noqa: E402


def _history() -> History:
    h = History()
    for step in range(1, 11):
        h.add_train(step, {"loss": 1.0 / step, "grad_norm": 1.0})
    h.add_eval(5, {"loss": 0.3, "accuracy": 0.8})
    h.add_eval(10, {"loss": 0.2, "accuracy": 0.9})
    return h


def test_history_draws_the_training_curve_and_the_validation_points():
    fig, ax = plt.subplots()
    assert plots.history(_history(), "loss", ax=ax, label="run") is ax
    training, validation = ax.get_lines()
    assert training.get_label() == "run training loss" and validation.get_label() == "run validation loss"
    assert list(training.get_xdata()) == list(range(1, 11))
    assert list(validation.get_xdata()) == [5, 10] and list(validation.get_ydata()) == [0.3, 0.2]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    plt.close(fig)


def test_history_smooths_with_a_moving_average_drawn_at_the_window_end():
    fig, ax = plt.subplots()
    plots.history(_history(), "loss", ax=ax, smooth=4)
    training = ax.get_lines()[0]
    assert list(training.get_xdata()) == list(range(4, 11))
    assert training.get_ydata()[0] == pytest.approx(np.mean([1, 1 / 2, 1 / 3, 1 / 4]))
    plt.close(fig)


def test_history_draws_an_eval_only_metric_and_refuses_an_unknown_one():
    fig, ax = plt.subplots()
    plots.history(_history(), "accuracy", ax=ax)
    assert [line.get_label() for line in ax.get_lines()] == ["validation accuracy"]
    with pytest.raises(KeyError, match="no metric 'bits'.*'accuracy', 'grad_norm', 'loss'"):
        plots.history(_history(), "bits", ax=ax)
    plt.close(fig)


def test_digit_images_and_digit_points():
    images = np.linspace(0, 1, 3 * 64).reshape(3, 64)
    axes = plots.digit_images(images, titles=[7, 8, 9])
    assert len(axes) == 3 and [ax.get_title() for ax in axes] == ["7", "8", "9"]
    assert axes[0].get_images()[0].get_array().shape == (8, 8)
    fig, ax = plt.subplots()
    points = np.array([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]])
    plots.digit_points(ax, points, np.array([1, 1, 4]), "codes")
    centres = {t.get_text(): t.get_position() for t in ax.texts}
    assert centres == {"1": (1.0, 0.0), "4": (5.0, 5.0)} and ax.get_title() == "codes"
    plt.close("all")


def test_label_points_places_crowded_labels_without_overlap():
    from matplotlib.text import Text

    fig, ax = plt.subplots(figsize=(5, 4))
    rng = np.random.default_rng(0)
    # twelve points crowded together (like the months of chapter 6's map) and eight spread out
    points = np.vstack([rng.normal(0, 0.01, size=(12, 2)), rng.uniform(-1, 1, size=(8, 2))])
    labels = [f"word{i}" for i in range(len(points))]
    ax.scatter(points[:, 0], points[:, 1])
    placed = plots.label_points(ax, points, labels)
    renderer = fig.canvas.get_renderer()
    for t in placed:
        t.update_positions(renderer)
    boxes = [Text.get_window_extent(t, renderer) for t in placed]  # the text alone, without its line
    assert [t.get_text() for t in placed] == labels
    assert np.allclose([t.xy for t in placed], points)  # each label points at its own point
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    dots = ax.transData.transform(points)
    assert not any(box.contains(x, y) for box in boxes for x, y in dots)  # no label covers a point
    axes_box = ax.get_window_extent(renderer)
    assert all(axes_box.x0 <= b.x0 and b.x1 <= axes_box.x1 and axes_box.y0 <= b.y0 and b.y1 <= axes_box.y1 for b in boxes)
    # the naive placement, every label at the same offset from its point, does overlap here
    naive = [ax.annotate(w, p, xytext=(3, 3), textcoords="offset points", fontsize=8).get_window_extent(renderer)
             for w, p in zip(labels, points)]
    assert any(a.overlaps(b) for a, b in itertools.combinations(naive, 2))
    plt.close(fig)
