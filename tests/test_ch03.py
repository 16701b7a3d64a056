"""Chapter 3: the MLP, softmax regression and autoencoder, the experiment helpers, the exercise checkers
and the notebook's text. The prose's claims are asserted on the executed notebook's glued values in
``test_claims_ch03.py``."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import nbformat
import numpy as np
import pytest
from conftest import ROOT, glue_names
from flax import nnx

from llmcourse.config import preset
from llmcourse.data import Digits
from llmcourse.exercises import ch03
from llmcourse.experiments import deep_learning as dl
from llmcourse.models.mlp import (
    MLP,
    Autoencoder,
    SoftmaxRegression,
    classification_loss,
    mean_squared_error,
    parameter_count,
    reconstruction_loss,
)

NOTEBOOK = ROOT / "chapters" / "03_deep_learning.ipynb"


# =========================================================================== models
@pytest.mark.parametrize("hidden, widths", [(16, [16]), ((8, 4), [8, 4]), ([3, 5, 7], [3, 5, 7])])
def test_mlp_shapes(hidden, widths):
    model = MLP(hidden=hidden, rngs=nnx.Rngs(0))
    x = jnp.ones((5, 64))
    assert model(x).shape == (5, 10)
    assert [h.shape for h in model.representations(x)] == [(5, w) for w in widths]
    assert all(float(h.min()) >= 0 for h in model.representations(x)), "hidden vectors pass a ReLU"


def test_mlp_other_sizes_and_numpy_input():
    model = MLP(in_features=3, hidden=4, out_features=2, rngs=nnx.Rngs(1))
    assert model(np.zeros((7, 3), np.float32)).shape == (7, 2)


@pytest.mark.parametrize("hidden", [0, -3, (), [], (8, 0), 2.5, True, "8", None])
def test_mlp_rejects_bad_hidden_sizes(hidden):
    with pytest.raises(ValueError, match="hidden"):
        MLP(hidden=hidden, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("kwargs, name", [({"in_features": 0}, "in_features"), ({"out_features": 0}, "out_features")])
def test_mlp_rejects_bad_in_out_sizes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MLP(hidden=4, rngs=nnx.Rngs(0), **kwargs)


@pytest.mark.parametrize("shape", [(2, 63), (2, 65), (64, 2), ()])
def test_mlp_rejects_wrong_input_width(shape):
    model = MLP(hidden=4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"64 numbers.*got shape"):
        model(jnp.zeros(shape))
    with pytest.raises(ValueError, match="64 numbers"):
        model.representations(jnp.zeros(shape))


def test_softmax_regression_shapes_errors_and_initial_loss():
    model = SoftmaxRegression(rngs=nnx.Rngs(0))
    assert model(jnp.ones((4, 64))).shape == (4, 10)
    with pytest.raises(ValueError, match="64 numbers"):
        model(jnp.ones((4, 8)))
    with pytest.raises(ValueError, match="out_features"):
        SoftmaxRegression(out_features=0, rngs=nnx.Rngs(0))
    # with all-zero weights every class gets probability 1/10: cross-entropy ln 10, accuracy of label 0
    model.layer.kernel[...] = jnp.zeros((64, 10))
    loss, metrics = classification_loss(model, {"x": jnp.ones((3, 64)), "y": jnp.array([0, 0, 0])})
    assert math.isclose(float(loss), math.log(10), rel_tol=1e-6)
    assert float(metrics["accuracy"]) == 1.0  # argmax of equal scores is class 0


def test_autoencoder_shapes_and_range():
    ae = Autoencoder(hidden=16, code_size=3, rngs=nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(0), (6, 64))
    code = ae.encode(x)
    assert code.shape == (6, 3)
    out = ae.decode(code)
    assert out.shape == (6, 64) and float(out.min()) >= 0 and float(out.max()) <= 1
    np.testing.assert_allclose(ae(x), out, rtol=1e-6)


@pytest.mark.parametrize("kwargs, name", [({"code_size": 0}, "code_size"), ({"code_size": -1}, "code_size"),
                                          ({"hidden": 0}, "hidden"), ({"code_size": 2.0}, "code_size")])
def test_autoencoder_rejects_bad_sizes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Autoencoder(rngs=nnx.Rngs(0), **kwargs)


def test_autoencoder_rejects_wrong_widths():
    ae = Autoencoder(code_size=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="64 numbers"):
        ae.encode(jnp.zeros((1, 60)))
    with pytest.raises(ValueError, match="2 numbers"):
        ae.decode(jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="64 numbers"):
        ae(jnp.zeros((1, 2)))


def test_mean_squared_error_and_reconstruction_loss():
    a = jnp.array([[0.0, 1.0], [1.0, 1.0]])
    b = jnp.array([[0.0, 0.0], [0.0, 1.0]])
    assert float(mean_squared_error(a, b)) == pytest.approx(0.5)
    assert float(mean_squared_error(a, a)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        mean_squared_error(a, b[:1])
    ae = Autoencoder(code_size=2, rngs=nnx.Rngs(0))
    x = jnp.full((2, 64), 0.5)
    loss, metrics = reconstruction_loss(ae, {"x": x})
    assert metrics == {} and float(loss) == pytest.approx(float(jnp.mean((ae(x) - x) ** 2)))


def abstract(make):
    """The model's structure and shapes without computing any weights (fast)."""
    return nnx.eval_shape(make)


@pytest.mark.parametrize("h", [1, 7, 32, 128, 512])
def test_parameter_count_formula(h):
    """The exercise's formula: two hidden layers of h units have h² + 76h + 10 parameters."""
    assert parameter_count(abstract(lambda: MLP(hidden=(h, h), rngs=nnx.Rngs(0)))) == h * h + 76 * h + 10
    assert parameter_count(MLP(hidden=(2, 3), rngs=nnx.Rngs(0))) == (64 * 2 + 2) + (2 * 3 + 3) + (3 * 10 + 10)


def test_parameter_counts_stated_in_the_chapter():
    assert parameter_count(SoftmaxRegression(rngs=nnx.Rngs(0))) == 650
    counts = {name: parameter_count(abstract(lambda: MLP(hidden=hidden, rngs=nnx.Rngs(0))))
              for name, hidden in dl.OVERFIT_MODELS.items()}
    assert counts == {"too small": 160, "medium": 2410, "over-large": 301_066}
    assert dl.OVERFIT_MODELS["over-large"][0] == 512 and 512**2 + 76 * 512 + 10 == 301_066
    # "more than a thousand [parameters] for every training digit"
    assert counts["over-large"] / (10 * dl.OVERFIT_PER_CLASS) > 1000


# =========================================================================== experiment helpers
def test_digit_splits_and_batches():
    s = dl.digit_splits()
    assert (len(s.train.labels), len(s.validation.labels), len(s.test.labels)) == (1437, 180, 180)
    batch = dl.as_batch(s.validation)
    assert batch["x"].shape == (180, 64) and batch["y"].shape == (180,)


def test_balanced_subset():
    s = dl.digit_splits()
    sub = dl.balanced_subset(s.train, 20, seed=0)
    assert np.bincount(sub.labels).tolist() == [20] * 10
    again = dl.balanced_subset(s.train, 20, seed=0)
    np.testing.assert_array_equal(sub.images, again.images)
    other = dl.balanced_subset(s.train, 20, seed=1)
    assert not np.array_equal(sub.images, other.images)
    with pytest.raises(ValueError, match="per_class"):
        dl.balanced_subset(s.train, 0, seed=0)
    with pytest.raises(ValueError, match="fewer than per_class"):
        dl.balanced_subset(s.train, 10_000, seed=0)


def test_nearest_centre_accuracy_and_projection():
    train = np.array([[0.0, 0.0], [0.2, 0.0], [5.0, 5.0], [5.2, 5.0]])
    labels = np.array([0, 0, 1, 1])
    points = np.array([[0.1, 0.3], [4.0, 4.0], [1.0, 1.0]])
    assert dl.nearest_centre_accuracy(train, labels, points, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 6))
    proj = dl.pca_projection(features, rng.integers(0, 3, 50), features[:7], np.zeros(7, int))
    assert proj.points.shape == (7, 2) and 0 < proj.explained_variance <= 1


def test_nearest_neighbour_accuracy_on_copies_is_perfect():
    s = dl.digit_splits()
    assert dl.nearest_neighbour_accuracy(s.train, Digits(s.train.images[:30], s.train.labels[:30])) == 1.0


def test_whole_split_batch():
    d = Digits(np.zeros((12, 64), np.float32), np.zeros(12, np.int32))
    assert dl.whole_split_batch(d) == (12 if 12 % len(jax.devices()) == 0 else None)


def test_confidence_on_mistakes():
    model = SoftmaxRegression(rngs=nnx.Rngs(0))
    model.layer.kernel[...] = jnp.zeros((64, 10))
    model.layer.bias[...] = jnp.array([3.0] + [0.0] * 9)  # always answers 0
    d = Digits(np.zeros((4, 64), np.float32), np.array([0, 1, 2, 0], np.int32))
    expected = math.exp(3) / (math.exp(3) + 9)
    assert dl.confidence_on_mistakes(model, d) == pytest.approx(expected, rel=1e-5)
    assert math.isnan(dl.confidence_on_mistakes(model, Digits(d.images[:1], d.labels[:1])))


@pytest.mark.slow
def test_mlp_beats_chance_quickly():
    cfg = preset("tiny").replace(mlp={"steps": 100, "eval_every": 100})
    s = dl.digit_splits()
    model = MLP(hidden=32, rngs=nnx.Rngs(0))
    history = dl.train_classifier(model, cfg, s.train, s.validation, learning_rate=3e-3)
    assert history.final("accuracy") > 0.6  # chance is 0.1
    assert history.final("loss") < math.log(10)


@pytest.mark.slow
def test_autoencoder_training_reduces_reconstruction_error():
    s = dl.digit_splits()
    cfg = preset("tiny").replace(mlp={"autoencoder_steps": 150, "eval_every": 150})
    before = float(mean_squared_error(Autoencoder(hidden=cfg.mlp.hidden, code_size=4, rngs=nnx.Rngs(cfg.seed))(s.validation.images),
                                      s.validation.images))
    result = dl.autoencoder_study(cfg, 4, s)
    assert result.validation_mse < 0.8 * before
    assert result.validation_mse < result.mean_image_mse


# =========================================================================== exercise checkers
def good_dense_relu(x, kernel, bias):
    return np.maximum(0, x @ kernel + bias)


def good_mse(reconstruction, target):
    return np.mean((reconstruction - target) ** 2)


def test_dense_relu_checker_passes_correct_answers():
    assert ch03.check_dense_relu(good_dense_relu)
    assert ch03.check_dense_relu(lambda x, k, b: jax.nn.relu(jnp.asarray(x) @ k + b))


@pytest.mark.parametrize("wrong, message", [
    (lambda x, k, b: None, "returned None"),
    (lambda x, k, b: x @ k + b, "ReLU is missing"),
    (lambda x, k, b: np.maximum(0, x @ k), "bias is missing"),
    (lambda x, k, b: np.maximum(0, x @ k) + b, "bias after the ReLU"),
    (lambda x, k, b: np.maximum(0, x @ k + b).T, "transposed"),
    (lambda x, k, b: np.abs(x @ k + b), "absolute value"),
    (lambda x, k, b: 1 / (1 + np.exp(-(x @ k + b))), r"output\[\d+, \d+\] should be"),
    (lambda x, k, b: 1 / 0, "ZeroDivisionError"),
    (lambda x, k, b: "relu", "not an array of numbers"),
    (lambda x, k, b: np.full((x.shape[0], k.shape[1]), np.nan), "NaN"),
    (3, "expected a function"),
])
def test_dense_relu_checker_explains_mistakes(wrong, message):
    result = ch03.check_dense_relu(wrong)
    assert not result
    assert re.search(message, result.message), result.message


def test_dense_relu_reference_is_the_mlp_layer():
    model = MLP(hidden=5, rngs=nnx.Rngs(0))
    layer = model.hidden_layers[0]
    x = np.random.default_rng(0).uniform(size=(3, 64)).astype(np.float32)
    expected = model.representations(x)[0]
    got = ch03.reference_dense_relu(x, np.asarray(layer.kernel[...]), np.asarray(layer.bias[...]))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_mse_checker_passes_correct_answers():
    assert ch03.check_mean_squared_error(good_mse)
    assert ch03.check_mean_squared_error(lambda r, t: jnp.mean((jnp.asarray(r) - t) ** 2))
    assert ch03.check_mean_squared_error(lambda r, t: float(((r - t) ** 2).sum() / r.size))


@pytest.mark.parametrize("wrong, message", [
    (lambda r, t: None, "returned None"),
    (lambda r, t: ((r - t) ** 2).sum(), "summed the squared errors"),
    (lambda r, t: ((r - t) ** 2).mean(1), "return one number"),
    (lambda r, t: ((r - t) ** 2).sum(1).mean(), "summed over pixels"),
    (lambda r, t: ((r - t) ** 2).mean(1).sum(), "summed over examples"),
    (lambda r, t: np.abs(r - t).mean(), "absolute errors"),
    (lambda r, t: np.sqrt(((r - t) ** 2).mean()), "square root"),
    (lambda r, t: (r - t).mean() ** 2, "squared the mean difference"),
    (lambda r, t: ((r - t) ** 2).mean() + 1, "expected .*, got"),
    (lambda r, t: [][0], "IndexError"),
])
def test_mse_checker_explains_mistakes(wrong, message):
    result = ch03.check_mean_squared_error(wrong)
    assert not result
    assert re.search(message, result.message), result.message


def test_checkers_do_not_change_the_learners_inputs_between_cases():
    def mutating(x, kernel, bias):
        out = np.maximum(0, x @ kernel + bias)
        x[...] = 0
        kernel[...] = 0
        return out

    assert ch03.check_dense_relu(mutating)


# =========================================================================== the notebook's text
def test_notebook_uses_only_glued_numbers_it_defines():
    """Every {glue:text} key in the prose is glued by some code cell (statically, incl. f-string keys)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    used, glued = glue_names(nb)
    # f-string keys: f"pca{k}_mse" for k in CODE_SIZES, f"{key}_width" for key in small/medium/large
    for k in (2, 8):
        glued |= {f"pca{k}_mse", f"ae{k}_mse"} if 'glue(f"pca{k}_mse"' in code else set()
    for key in ("small", "medium", "large"):
        glued |= {f"{key}_width"} if 'glue(f"{key}_width"' in code else set()
        glued |= {f"{key}_params"} if 'glue(f"{key}_params"' in code else set()
    assert used, "the prose should state numbers through glue"
    assert used <= glued, f"glued nowhere: {sorted(used - glued)}"
    assert "NotImplementedError" not in code + prose, "the book test forbids this string in rendered pages"


def test_terms_are_defined_before_use():
    """Batch, mini-batch SGD and backpropagation are defined (in bold, with what they do) before the
    prose relies on them."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    prose = re.sub(r"^\([\w-]+\)=$", "", prose, flags=re.M)  # MyST targets (the glossary's labels)
    backprop = prose.index("**backpropagation (역전파)**")
    assert "chain" in prose[backprop - 200:backprop + 900] and "backward pass" in prose[backprop:backprop + 900]
    batch = prose.index("**batch (배치)**")
    assert "averaged over a batch" in prose[batch:], "the loss's batch comes after the definition"
    assert "batch" not in prose[:batch].replace("`batch`", "")
    sgd = prose.index("**mini-batch stochastic gradient descent")
    assert "{glue:text}`mlp_batch`" in prose[sgd:sgd + 600] and "**epoch" in prose[sgd:sgd + 1200]
    assert "mini-batch" not in prose[:sgd].lower() and "epoch" not in prose[:sgd].lower()
    assert prose.index("backpropagation") >= backprop - 200  # no earlier use
