"""Chapter 3's experiments on scikit-learn's 8×8 digits: features a network learns by itself.

Each function runs one experiment of the chapter with the sizes of a preset and returns what the
notebook shows; the claims tests (``tests/test_claims_ch03.py``) assert what the prose says on the values
the notebook glued when the book was executed at the ``cpu`` preset.

* ``representation_study`` — an MLP's hidden vectors, projected to 2-D, before and after training.
* ``autoencoder_study`` — compress a digit to a few numbers and rebuild it; compare with PCA.
* ``overfitting_study`` — a too-small, a medium and an over-large MLP on 200 training digits.
* ``compare_with_linear`` — the MLP against softmax regression on the held-out test digits.

Learning rates were chosen once, for each model separately, by comparing a few values between 0.001
and 0.3 on the *validation* split (never the test split).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import jax
import numpy as np
from flax import nnx
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid

from llmcourse.config import Preset
from llmcourse.data import Digits, digits
from llmcourse.models.mlp import (
    MLP,
    Autoencoder,
    SoftmaxRegression,
    classification_loss,
    parameter_count,
    reconstruction_loss,
)
from llmcourse.training import History, TrainConfig, train

MLP_LEARNING_RATE = 1e-3
LINEAR_LEARNING_RATE = 3e-2  # a convex model with few parameters takes larger steps well
AUTOENCODER_LEARNING_RATE = 3e-3
OVERFIT_PER_CLASS = 20  # 10 classes × 20 = 200 training digits for the under-/over-fitting study
OVERFIT_MODELS = {"too small": (2,), "medium": (32,), "over-large": (512, 512)}


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class DigitSplits:
    train: Digits
    validation: Digits
    test: Digits


def digit_splits() -> DigitSplits:
    """The fixed 80/10/10 split of the 1,797 digits (``llmcourse.data.digits``)."""
    return DigitSplits(digits("train"), digits("validation"), digits("test"))


def as_batch(d: Digits) -> dict[str, np.ndarray]:
    """The form the training engine and the loss functions read: ``{"x": images, "y": labels}``."""
    return {"x": d.images, "y": d.labels}


def balanced_subset(d: Digits, per_class: int, seed: int) -> Digits:
    """``per_class`` examples of every digit, drawn at random with ``seed`` (in the original order)."""
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(d.labels):
        where = np.flatnonzero(d.labels == label)
        if len(where) < per_class:
            raise ValueError(f"digit {label} has only {len(where)} examples, fewer than per_class={per_class}")
        chosen.append(rng.choice(where, size=per_class, replace=False))
    index = np.sort(np.concatenate(chosen))
    return Digits(d.images[index], d.labels[index])


# --------------------------------------------------------------------------- training
def mlp_widths(cfg: Preset) -> tuple[int, int]:
    """The chapter's MLP: two hidden layers of ``cfg.mlp.hidden`` units each."""
    return (cfg.mlp.hidden, cfg.mlp.hidden)


def whole_split_batch(d: Digits) -> int | None:
    """Evaluate a split in one batch (one compiled shape) when it divides over the devices."""
    n = len(d.labels)
    return n if n % len(jax.devices()) == 0 else None


def train_classifier(model: nnx.Module, cfg: Preset, train_digits: Digits, validation_digits: Digits, *,
                     learning_rate: float, steps: int | None = None, batch_size: int | None = None,
                     seed: int | None = None) -> History:
    """Train a classifier in place with the course's engine; evaluate on ``validation_digits``."""
    config = TrainConfig(
        steps=steps or cfg.mlp.steps,
        batch_size=batch_size or cfg.mlp.batch,
        learning_rate=learning_rate,
        eval_every=cfg.mlp.eval_every,
        eval_batch_size=whole_split_batch(validation_digits),
        seed=cfg.seed if seed is None else seed,
    )
    return train(model, classification_loss, as_batch(train_digits), config,
                 eval_data=as_batch(validation_digits))


def confidence_on_mistakes(model: nnx.Module, d: Digits) -> float:
    """Mean probability the model gives its own (wrong) answer, over the digits it gets wrong."""
    probabilities = np.asarray(jax.nn.softmax(model(d.images)))  # (n, 10)
    wrong = probabilities.argmax(1) != d.labels
    return float(probabilities[wrong].max(1).mean()) if wrong.any() else float("nan")


def evaluate_classifier(model: nnx.Module, d: Digits) -> dict[str, float]:
    """Cross-entropy, accuracy and number of mistakes of ``model`` on the digits ``d``."""
    loss, metrics = classification_loss(model, as_batch(d))
    accuracy = float(metrics["accuracy"])
    return {"loss": float(loss), "accuracy": accuracy, "errors": int(round((1 - accuracy) * len(d.labels)))}


# --------------------------------------------------------------------------- representations
def nearest_neighbour_accuracy(train_digits: Digits, d: Digits) -> float:
    """How often the closest training image (straight-line distance in 64-D) has the same label:
    scikit-learn's one-nearest-neighbour classifier."""
    nearest = KNeighborsClassifier(n_neighbors=1).fit(train_digits.images, train_digits.labels)
    return float(np.mean(nearest.predict(d.images) == d.labels))


@dataclass(frozen=True)
class Projection:
    """Examples as points in 2-D: their first two principal components (PCA fitted on training data)."""

    points: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,)
    nearest_centre_accuracy: float  # share of points whose nearest class centre is their own class
    explained_variance: float  # share of the training features' variance the two directions keep


def pca_projection(train_features, train_labels, features, labels) -> Projection:
    """Fit a 2-component PCA on ``train_features``; project ``features`` and score class separation.

    Class centres are the mean training point of each class in 2-D; a point is "classified" by its
    nearest centre. The score measures how well the two numbers alone keep the classes apart.
    """
    train_features, features = np.asarray(train_features), np.asarray(features)
    pca = PCA(n_components=2, svd_solver="full").fit(train_features)
    train_2d, points = pca.transform(train_features), pca.transform(features)  # (n_train, 2), (n, 2)
    return Projection(points, np.asarray(labels), nearest_centre_accuracy(train_2d, train_labels, points, labels),
                      float(pca.explained_variance_ratio_.sum()))


def nearest_centre_accuracy(train_points, train_labels, points, labels) -> float:
    """Share of ``points`` whose nearest class centre (mean of that class's ``train_points``) is their
    class: scikit-learn's ``NearestCentroid``, fitted on the training points."""
    with warnings.catch_warnings():  # it warns about classes with zero spread, a statistic we do not use
        warnings.filterwarnings("ignore", message=".*within_class_std_dev_", category=UserWarning)
        centres = NearestCentroid().fit(np.asarray(train_points), np.asarray(train_labels))
    return float(np.mean(centres.predict(np.asarray(points)) == np.asarray(labels)))


def hidden_projection(model: MLP, splits: DigitSplits) -> Projection:
    """The last hidden layer's vectors of the validation digits, projected to 2-D."""
    train_h = model.representations(splits.train.images)[-1]  # (n_train, hidden)
    valid_h = model.representations(splits.validation.images)[-1]  # (n_valid, hidden)
    return pca_projection(train_h, splits.train.labels, valid_h, splits.validation.labels)


@dataclass
class RepresentationStudy:
    model: MLP
    history: History
    pixels: Projection  # the raw 64 pixels
    before: Projection  # the last hidden layer of the untrained MLP
    after: Projection  # the same layer after training
    validation_accuracy: float


def representation_study(cfg: Preset, splits: DigitSplits | None = None) -> RepresentationStudy:
    """Train the chapter's MLP and look at its last hidden layer before and after."""
    s = splits or digit_splits()
    model = MLP(hidden=mlp_widths(cfg), rngs=nnx.Rngs(cfg.seed))
    pixels = pca_projection(s.train.images, s.train.labels, s.validation.images, s.validation.labels)
    before = hidden_projection(model, s)
    history = train_classifier(model, cfg, s.train, s.validation, learning_rate=MLP_LEARNING_RATE)
    after = hidden_projection(model, s)
    return RepresentationStudy(model, history, pixels, before, after, history.final("accuracy"))


# --------------------------------------------------------------------------- autoencoder
def pca_reconstruction_error(train_images, images, components: int) -> float:
    """Mean squared error of rebuilding ``images`` from their first ``components`` principal components."""
    pca = PCA(n_components=components, svd_solver="full").fit(train_images)
    rebuilt = pca.inverse_transform(pca.transform(images))
    return float(np.mean((rebuilt - images) ** 2))


@dataclass
class AutoencoderStudy:
    model: Autoencoder
    history: History
    code_size: int
    validation_mse: float  # the autoencoder on the validation digits
    pca_mse: float  # PCA keeping code_size numbers per digit: the best *linear* compression
    mean_image_mse: float  # "rebuilding" every digit as the average training digit


def autoencoder_study(cfg: Preset, code_size: int, splits: DigitSplits | None = None) -> AutoencoderStudy:
    """Train an autoencoder with a ``code_size``-number code; compare it with PCA and the mean digit."""
    s = splits or digit_splits()
    model = Autoencoder(hidden=cfg.mlp.hidden, code_size=code_size, rngs=nnx.Rngs(cfg.seed))
    config = TrainConfig(steps=cfg.mlp.autoencoder_steps, batch_size=cfg.mlp.batch,
                         learning_rate=AUTOENCODER_LEARNING_RATE, eval_every=cfg.mlp.eval_every,
                         eval_batch_size=whole_split_batch(s.validation), seed=cfg.seed)
    history = train(model, reconstruction_loss, {"x": s.train.images}, config,
                    eval_data={"x": s.validation.images})
    mean_image = s.train.images.mean(0)
    return AutoencoderStudy(
        model, history, code_size,
        validation_mse=history.final("loss"),
        pca_mse=pca_reconstruction_error(s.train.images, s.validation.images, code_size),
        mean_image_mse=float(np.mean((s.validation.images - mean_image) ** 2)),
    )


# --------------------------------------------------------------------------- under- and over-fitting
@dataclass
class FitCurve:
    """One model of the under-/over-fitting study and what its curves show."""

    name: str
    hidden: tuple[int, ...]
    parameters: int
    history: History
    model: MLP

    @property
    def final_train_loss(self) -> float:
        return self.history.train["loss"][-1]

    @property
    def final_validation_loss(self) -> float:
        return self.history.eval["loss"][-1]

    @property
    def best_validation_loss(self) -> float:
        return min(self.history.eval["loss"])

    @property
    def best_step(self) -> int:
        """The evaluation step with the lowest validation loss (where early stopping would stop)."""
        return self.history.eval_steps[int(np.argmin(self.history.eval["loss"]))]

    @property
    def final_validation_accuracy(self) -> float:
        return self.history.eval["accuracy"][-1]

    @property
    def best_step_validation_accuracy(self) -> float:
        return self.history.eval["accuracy"][int(np.argmin(self.history.eval["loss"]))]


def overfitting_study(cfg: Preset, splits: DigitSplits | None = None) -> dict[str, FitCurve]:
    """Three MLPs of very different size, trained on the same 200 digits for ``cfg.mlp.overfit_steps``.

    Every step uses all 200 training digits (full-batch), so the training curve is the exact
    training loss, free of mini-batch noise.
    """
    s = splits or digit_splits()
    small_train = balanced_subset(s.train, OVERFIT_PER_CLASS, seed=cfg.seed)
    curves = {}
    for name, hidden in OVERFIT_MODELS.items():
        model = MLP(hidden=hidden, rngs=nnx.Rngs(cfg.seed))
        history = train_classifier(model, cfg, small_train, s.validation, learning_rate=MLP_LEARNING_RATE,
                                   steps=cfg.mlp.overfit_steps, batch_size=len(small_train.labels))
        curves[name] = FitCurve(name, hidden, parameter_count(model), history, model)
    return curves


# --------------------------------------------------------------------------- MLP vs linear
@dataclass
class ComparisonRow:
    model: str
    parameters: int
    test_accuracy: list[float]  # one per seed
    test_loss: list[float]
    test_errors: list[int]

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean(self.test_accuracy))

    @property
    def mean_errors(self) -> float:
        return float(np.mean(self.test_errors))

    @property
    def mean_loss(self) -> float:
        return float(np.mean(self.test_loss))


def compare_with_linear(cfg: Preset, splits: DigitSplits | None = None) -> dict[str, ComparisonRow]:
    """Softmax regression and the MLP, same data, same engine, ``cfg.mlp.compare_seeds`` seeds each.

    Both are trained on the training split; the test split is touched only here, once, at the end.
    """
    s = splits or digit_splits()
    makers = {
        "softmax regression (linear)": (lambda seed: SoftmaxRegression(rngs=nnx.Rngs(seed)), LINEAR_LEARNING_RATE),
        "MLP": (lambda seed: MLP(hidden=mlp_widths(cfg), rngs=nnx.Rngs(seed)), MLP_LEARNING_RATE),
    }
    rows = {}
    for name, (make, learning_rate) in makers.items():
        results, parameters = [], 0
        for seed in range(cfg.seed, cfg.seed + cfg.mlp.compare_seeds):
            model = make(seed)
            parameters = parameter_count(model)
            train_classifier(model, cfg, s.train, s.validation, learning_rate=learning_rate, seed=seed)
            results.append(evaluate_classifier(model, s.test))
        rows[name] = ComparisonRow(name, parameters, [r["accuracy"] for r in results],
                                   [r["loss"] for r in results], [r["errors"] for r in results])
    return rows


__all__ = [
    "MLP_LEARNING_RATE", "LINEAR_LEARNING_RATE", "AUTOENCODER_LEARNING_RATE", "OVERFIT_PER_CLASS",
    "OVERFIT_MODELS", "DigitSplits", "digit_splits", "as_batch", "balanced_subset", "mlp_widths", "whole_split_batch",
    "train_classifier", "confidence_on_mistakes", "evaluate_classifier", "nearest_neighbour_accuracy", "nearest_centre_accuracy", "Projection",
    "pca_projection", "hidden_projection", "RepresentationStudy", "representation_study",
    "pca_reconstruction_error", "AutoencoderStudy", "autoencoder_study", "FitCurve",
    "overfitting_study", "ComparisonRow", "compare_with_linear",
]
