"""Chapter 3's claims, asserted on what the reader sees: the values the notebook glued when the book
was executed at the ``cpu`` preset (``executed_book``). Each test quotes the prose it checks."""

from __future__ import annotations

import numpy as np
import pytest

from llmcourse.config import preset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def g(executed_book):
    return executed_book.glue("03_deep_learning")


def test_claim_nearby_points_are_alike(g):
    # "For {nn_accuracy} of the validation digits the closest training image shows the same digit: in
    # this space, near mostly means alike"
    assert g["nn_accuracy"] > 0.9


def test_claim_mlp_training_curves(g):
    # "the validation points ... come down with it at first and then level off while the training loss
    # keeps falling"
    val = np.asarray(g["mlp_eval_losses"])
    assert val[-1] < val[0] / 3  # come down
    assert val[-1] < 1.25 * val.min()  # level off: no large rise
    assert g["mlp_train_end"] < 0.5 * g["mlp_train_middle"]  # the training loss keeps falling
    # "After {mlp_steps} steps, about {mlp_epochs} epochs, the MLP labels {mlp_valid_accuracy} of the
    # validation digits correctly; guessing would get 10 %"
    assert g["mlp_valid_accuracy"] > 0.95
    assert g["mlp_epochs"] == pytest.approx(g["mlp_steps"] * g["mlp_batch"] / g["n_train"])


def test_claim_mini_batches(g):
    # "each step draws a random batch of {mlp_batch} training digits ... a noisy estimate of the gradient
    # on all {n_train} digits, but it costs a fraction as much, so ... the model takes many more steps"
    assert g["mlp_batch"] == preset("cpu").mlp.batch
    assert g["mlp_batch"] < g["n_train"] / 5
    # "every digit is used once per pass over the data, an epoch"; training runs for many of them
    assert g["mlp_epochs"] > 10


def test_claim_training_sorts_the_hidden_representation(g):
    # "In the trained hidden layer that rule is right for {centre_after} of the validation digits,
    # against {centre_before} before training and {centre_pixels} for the raw pixels"; "training sorted them"
    assert g["centre_after"] > g["centre_before"] + 0.1 and g["centre_after"] > g["centre_pixels"]
    # "The random layer had scrambled the digits a little more than the pixels"
    assert g["centre_before"] < g["centre_pixels"]
    # "the output layer uses all of them, which is why the network itself does much better ({mlp_valid_accuracy})"
    assert g["mlp_valid_accuracy"] > g["centre_after"] + 0.2


def test_claim_autoencoder_beats_pca_and_the_mean_digit(g):
    # "With 2 numbers per digit PCA reaches {pca2_mse} and the autoencoder {ae2_mse}; with 8 numbers, PCA
    # {pca8_mse} and the autoencoder {ae8_mse}. With the same budget of numbers, the non-linear encoder and
    # decoder keep more of each digit than the best linear projection" (and both beat the average digit)
    for k in (2, 8):
        assert g[f"ae{k}_mse"] < g[f"pca{k}_mse"] < g["mean_image_mse"], k
    assert g["pca8_mse"] < g["pca2_mse"]
    # "The code of 8 numbers ends well below the code of 2"
    assert g["ae8_mse"] < 0.6 * g["ae2_mse"]
    assert g["ae_eval_losses"][2][-1] == pytest.approx(g["ae2_mse"]) and g["ae_eval_losses"][8][-1] == pytest.approx(g["ae8_mse"])


def test_claim_autoencoder_curves(g):
    # "for both code sizes the reconstruction error falls ... The validation points stay a little above
    # the training curves ... but keep coming down"
    assert sorted(g["ae_eval_losses"]) == [2, 8]
    for k, val in g["ae_eval_losses"].items():
        train_end = g["ae_train_end"][k]
        assert val[-1] < 0.7 * val[0], k
        assert train_end < val[-1] < 2 * train_end, k  # a little above the training curve
        assert val[-1] < val[len(val) // 2], k  # still coming down in the second half


def test_claim_code_space_groups_digits(g):
    # "digits of the same kind land near each other, and the nearest class centre in this 2-number code
    # is right for {code_centre} of the validation digits (guessing: 10 %)"
    assert g["code_centre"] > 0.5


def test_claim_overfitting_setup(g):
    # "a small training set of {overfit_n} digits ({overfit_per_class} of each kind)"; "two hidden layers
    # of {large_width} units ({large_params} parameters, more than a thousand for every training digit)"
    assert g["overfit_n"] == 10 * g["overfit_per_class"]
    assert g["small_params"] < g["medium_params"] < g["large_params"] and g["large_params"] > 1000 * g["overfit_n"]


def test_claim_underfitting(g):
    # "the too-small model cannot even fit its training digits; its training loss stays high and the
    # validation loss stays higher"; "labels only {small_acc} of the validation digits correctly"
    assert g["small_train"] > 1.0 and g["small_final"] > g["small_train"]
    assert g["small_acc"] < 0.5 and g["small_acc"] < g["medium_acc"] - 0.3


def test_claim_overfitting(g):
    # "In the middle and on the right, the training loss dives towards zero"; "drives its training loss
    # down to {large_train}"
    assert g["medium_train"] < 0.01 and g["large_train"] < 1e-4
    # the prose writes large_train with seven decimals (no scientific notation): it must not read as 0
    assert f"{g['large_train']:.7f}" != "0.0000000"
    # "For the over-large model the validation loss is lowest early on (dotted line) and then climbs
    # steadily ... from {large_best} at step {large_best_step} to {large_final}"
    after = np.asarray(g["large_after_best"])
    assert g["large_best_step"] <= 0.1 * g["overfit_steps"]  # early on
    assert after[0] == pytest.approx(g["large_best"]) and after[-1] == pytest.approx(g["large_final"])
    assert g["large_final"] > 1.3 * g["large_best"]  # climbs
    assert np.mean(np.diff(after) > 0) > 0.8  # steadily
    # "while the training loss keeps falling"
    assert g["large_train"] < 0.01 * g["large_train_at_best"]


def test_claim_medium_model_ends_best(g):
    # "The medium model ends with the lowest validation loss of the three ({medium_final}), although its
    # curve also drifts up after step {medium_best_step}"
    assert g["medium_final"] < min(g["small_final"], g["large_final"])
    assert g["medium_best_step"] < g["overfit_steps"] and g["medium_final"] > g["medium_best"]


def test_claim_overconfidence(g):
    # "the over-large model's validation accuracy hardly moves, from {large_best_acc} at its best step to
    # {large_final_acc} at the end"
    assert abs(g["large_final_acc"] - g["large_best_acc"]) <= 0.02
    # "on the validation digits it gets wrong, it gives its wrong answer a probability of
    # {large_confidence} on average"
    assert g["large_confidence"] > 0.7


def test_claim_mlp_beats_linear_on_test_digits(g):
    # "repeat with {compare_seeds} seeds"
    linear, mlp = g["linear_test_errors"], g["mlp_test_errors"]
    assert len(linear) == len(mlp) == g["compare_seeds"] >= 3
    # "the MLP makes fewer mistakes on the test digits with every seed, on average {mlp_errors} against
    # {linear_errors} out of {n_test} ({mlp_accuracy} against {linear_accuracy} accuracy)"
    assert all(m < lin for m, lin in zip(mlp, linear))
    assert g["mlp_errors"] == pytest.approx(np.mean(mlp)) and g["linear_errors"] == pytest.approx(np.mean(linear))
    assert g["mlp_accuracy"] == pytest.approx(1 - g["mlp_errors"] / g["n_test"], abs=1e-6)
    assert g["linear_accuracy"] == pytest.approx(1 - g["linear_errors"] / g["n_test"], abs=1e-6)
    # "The gap is modest: on small, centred 8 × 8 digits a linear template is already a strong model"
    assert g["linear_accuracy"] > 0.9 and g["mlp_accuracy"] - g["linear_accuracy"] < 0.05
    # ex03-parameters: "h^2 + 76h + 10"; "Softmax regression has 64 · 10 + 10 = 650 parameters"
    h = g["mlp_width"]
    assert g["compare_mlp_params"] == g["mlp_params"] == h * h + 76 * h + 10 and g["linear_params"] == 650
    # "The over-large model, with h = 512, has 512^2 + 76 · 512 + 10 = 301,066, the number in the title of its plot"
    assert g["large_width"] == 512 and g["large_params"] == 512**2 + 76 * 512 + 10 == 301_066
