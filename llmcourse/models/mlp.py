r"""Neural networks that learn their own features: the multilayer perceptron and the autoencoder.

A *dense layer* (fully connected layer) followed by a ReLU turns a vector ``x`` into a new vector

.. math:: h = \mathrm{relu}(W x + b), \qquad \mathrm{relu}(z) = \max(0, z)

(in code the weight matrix is stored transposed, ``kernel`` of shape ``(in, out)``, so the same
thing reads ``relu(x @ kernel + bias)`` for a whole batch of rows ``x`` at once). A multilayer
perceptron stacks such layers; the last layer has no ReLU and gives one score (logit) per class.

Nothing in the network says which pixels matter or how to combine them: the hidden vectors ``h``
are *features the network chooses itself* while gradient descent lowers the loss.

The module also holds the two reference models the chapter compares against:

* ``SoftmaxRegression`` — one dense layer straight from pixels to class scores (the multiclass
  version of chapter 2's logistic regression): features are the raw pixels, nothing is learned
  in between.
* ``Autoencoder`` — an encoder squeezes 64 pixels into a *code* of a few numbers, a decoder
  rebuilds the 64 pixels from the code alone.

Loss functions have the form the training engine expects, ``loss_fn(model, batch) -> (loss,
metrics)``, with ``batch = {"x": images, "y": labels}`` (``"y"`` only for classification).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx

DIGIT_PIXELS = 64  # 8 × 8 grey-scale images, flattened
DIGIT_CLASSES = 10


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer (at least 1), got {value!r}")
    return value


def _layer_sizes(name: str, sizes) -> tuple[int, ...]:
    """An int or a sequence of ints → a tuple of positive ints (at least one)."""
    if isinstance(sizes, int) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, Sequence) or len(sizes) == 0:
        raise ValueError(f"{name} must be a positive integer or a non-empty list of them, got {sizes!r}")
    return tuple(_positive_int(f"{name}[{i}]", s) for i, s in enumerate(sizes))


def _check_width(x: jax.Array, expected: int, what: str) -> None:
    if x.ndim < 1 or x.shape[-1] != expected:
        raise ValueError(
            f"{what} expects inputs whose last axis has {expected} numbers, got shape {tuple(x.shape)}"
        )


class MLP(nnx.Module):
    r"""A multilayer perceptron: dense layers with ReLU, then a dense output layer.

    .. math::
        h_1 = \mathrm{relu}(W_1 x + b_1), \quad h_{k} = \mathrm{relu}(W_k h_{k-1} + b_k), \quad
        \text{logits} = W_{\text{out}} h_{\text{last}} + b_{\text{out}}

    ``hidden`` is the width of the hidden layer, or a list of widths for several hidden layers.
    ``representations(x)`` returns every hidden vector, so we can look at the features it learned.
    """

    def __init__(self, in_features: int = DIGIT_PIXELS, hidden: int | Sequence[int] = 128,
                 out_features: int = DIGIT_CLASSES, *, rngs: nnx.Rngs):
        self.in_features = _positive_int("in_features", in_features)
        widths = _layer_sizes("hidden", hidden)
        _positive_int("out_features", out_features)
        sizes = (in_features, *widths)
        self.hidden_layers = nnx.List(
            [nnx.Linear(n_in, n_out, rngs=rngs) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        )
        self.output_layer = nnx.Linear(widths[-1], out_features, rngs=rngs)

    def representations(self, x: jax.Array) -> list[jax.Array]:
        """The hidden vectors of every hidden layer: ``[(batch, hidden[0]), (batch, hidden[1]), ...]``."""
        x = jnp.asarray(x)
        _check_width(x, self.in_features, "MLP")
        h = x  # (batch, 64)
        hs = []
        for layer in self.hidden_layers:
            h = jax.nn.relu(layer(h))  # (batch, width of this layer)
            hs.append(h)
        return hs

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.representations(x)[-1]  # (batch, last hidden width)
        return self.output_layer(h)  # (batch, 10) logits: one score per class


class SoftmaxRegression(nnx.Module):
    """A linear classifier: ``logits = W x + b``, then softmax. The features are the raw pixels.

    With two classes this is exactly logistic regression (chapter 2); with ten, the softmax turns
    ten scores into ten probabilities.
    """

    def __init__(self, in_features: int = DIGIT_PIXELS, out_features: int = DIGIT_CLASSES, *, rngs: nnx.Rngs):
        self.in_features = _positive_int("in_features", in_features)
        _positive_int("out_features", out_features)
        self.layer = nnx.Linear(in_features, out_features, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        _check_width(x, self.in_features, "SoftmaxRegression")
        return self.layer(x)  # (batch, 10) logits


class Autoencoder(nnx.Module):
    r"""Compress, then rebuild: ``x → encoder → code (code_size numbers) → decoder → x̂``.

    .. math::
        z = W_2\,\mathrm{relu}(W_1 x + b_1) + b_2, \qquad
        \hat{x} = \sigma\big(W_4\,\mathrm{relu}(W_3 z + b_3) + b_4\big)

    The code ``z`` has no activation (any real numbers); the output goes through a sigmoid
    ``σ`` so every rebuilt pixel lies in [0, 1], like the pixels of the data. Training minimises
    the reconstruction error ``mean((x̂ - x)²)``: the only way to rebuild a digit from a few
    numbers is to make those numbers describe what matters about it.
    """

    def __init__(self, in_features: int = DIGIT_PIXELS, hidden: int = 64, code_size: int = 2, *, rngs: nnx.Rngs):
        self.in_features = _positive_int("in_features", in_features)
        _positive_int("hidden", hidden)
        self.code_size = _positive_int("code_size", code_size)
        self.encoder_hidden = nnx.Linear(in_features, hidden, rngs=rngs)
        self.encoder_code = nnx.Linear(hidden, code_size, rngs=rngs)
        self.decoder_hidden = nnx.Linear(code_size, hidden, rngs=rngs)
        self.decoder_output = nnx.Linear(hidden, in_features, rngs=rngs)

    def encode(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        _check_width(x, self.in_features, "Autoencoder.encode")
        h = jax.nn.relu(self.encoder_hidden(x))  # (batch, hidden)
        return self.encoder_code(h)  # (batch, code_size)

    def decode(self, code: jax.Array) -> jax.Array:
        code = jnp.asarray(code)
        _check_width(code, self.code_size, "Autoencoder.decode")
        h = jax.nn.relu(self.decoder_hidden(code))  # (batch, hidden)
        return jax.nn.sigmoid(self.decoder_output(h))  # (batch, 64), each pixel in [0, 1]

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.decode(self.encode(x))  # (batch, 64)


# --------------------------------------------------------------------------- losses
def mean_squared_error(reconstruction: jax.Array, target: jax.Array) -> jax.Array:
    """``mean((reconstruction - target)²)`` over every example and every pixel: one number."""
    if jnp.shape(reconstruction) != jnp.shape(target):
        raise ValueError(
            f"reconstruction and target must have the same shape, got {jnp.shape(reconstruction)} and {jnp.shape(target)}"
        )
    return jnp.mean((reconstruction - target) ** 2)


def classification_loss(model: nnx.Module, batch) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean cross-entropy of the model's logits against ``batch["y"]``, and the accuracy."""
    logits = model(batch["x"])  # (batch, 10)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
    return loss, {"accuracy": (logits.argmax(-1) == batch["y"]).mean()}


def reconstruction_loss(model: nnx.Module, batch) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean squared error between the autoencoder's output and its input ``batch["x"]``."""
    return mean_squared_error(model(batch["x"]), batch["x"]), {}


def parameter_count(model: nnx.Module) -> int:
    """How many numbers training adjusts: the total size of the model's ``nnx.Param`` arrays."""
    return sum(int(p.size) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
