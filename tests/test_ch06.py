"""Chapter 6 (word embeddings): the exercise checker. The prose's claims are asserted on the executed
notebook's glued values in ``test_claims_ch06.py``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from llmcourse.exercises import ch06

NOTEBOOK = Path(__file__).resolve().parents[1] / "chapters" / "06_word_embeddings.ipynb"


# --------------------------------------------------------------------------- the checker
def _sigmoid(x):
    return 0.5 * (1 + np.tanh(x / 2))


def solution(v, u_true, u_noise):
    """The notebook's solution of ex06-loss, verbatim."""
    s_true, s_noise = u_true @ v, u_noise @ v
    loss = np.logaddexp(0, -s_true) + np.sum(np.logaddexp(0, s_noise))
    g_true, g_noise = _sigmoid(s_true) - 1, _sigmoid(s_noise)
    return loss, g_true * u_true + g_noise @ u_noise, g_true * v, g_noise[:, None] * v[None, :]


def test_checker_accepts_the_solution():
    result = ch06.check_negative_sampling(solution)
    assert result.passed, result.message


@pytest.mark.parametrize("wrong, message", [
    (lambda v, ut, un: (-np.log(_sigmoid(ut @ v)) - np.sum(np.log(_sigmoid(-(un @ v)))), *solution(v, ut, un)[1:]),
     "−800.*not finite.*logaddexp"),
    (lambda v, ut, un: (solution(v, ut, un)[0], -solution(v, ut, un)[1], *solution(v, ut, un)[2:]),
     "grad_v .* opposite sign"),
    (lambda v, ut, un: (*solution(v, ut, un)[:3], solution(v, ut, un)[3].sum(0)),
     r"grad_u_noise has shape \(4,\), expected \(3, 4\)"),
    (lambda v, ut, un: (np.logaddexp(0, -(ut @ v)) + np.sum(np.logaddexp(0, -(un @ v))), *solution(v, ut, un)[1:]),
     "your loss is .* minus sign inside the noise terms"),
    (lambda v, ut, un: (solution(v, ut, un)[0], (_sigmoid(ut @ v) - 1) * ut, *solution(v, ut, un)[2:]),
     "grad_v is .*one term for the true word and one for each noise word"),
    (lambda v, ut, un: None, "returned NoneType None; expected a tuple of 4"),
])
def test_checker_explains_mistakes(wrong, message):
    result = ch06.check_negative_sampling(wrong)
    assert not result.passed


    assert re.search(message, result.message), result.message


def test_checker_survives_unfinished_and_broken_answers():
    def unfinished(v, u_true, u_noise):
        raise NotImplementedError

    assert "NotImplementedError" in ch06.check_negative_sampling(unfinished).message
    assert "raised ZeroDivisionError" in ch06.check_negative_sampling(lambda *a: 1 / 0).message
    assert "expected a function" in ch06.check_negative_sampling(42).message


# --------------------------------------------------------------------------- the notebook's form
