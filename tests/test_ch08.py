"""Chapter 8, "Attention and the transformer": the exercise checker, the notebook's form and the
measures of the heads. The prose's claims are asserted on the executed notebook in
``test_claims_ch08.py``."""

from __future__ import annotations

import re
from pathlib import Path

import jax.numpy as jnp
import nbformat
import numpy as np
import pytest

from conftest import glue_names
from llmcourse.exercises import ch08
from llmcourse.experiments import transformer as tx
from llmcourse.models.transformer import attention, causal_mask

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "chapters" / "08_attention_transformer.ipynb"


# ============================================================================ the checker
def _correct(q, k, v):
    d, t = q.shape[-1], q.shape[-2]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    w = np.exp(s)
    return (w / w.sum(-1, keepdims=True)) @ v


def _variant(q, k, v, scale=None, mask="lower", axis=-1, stable=True, after=False):
    d, t = q.shape[-1], q.shape[-2]
    s = q @ np.swapaxes(k, -1, -2) / (np.sqrt(d) if scale is None else scale(d))
    allowed = {"lower": np.tril, "upper": np.triu}[mask](np.ones((t, t), bool)) if mask else None
    if allowed is not None and not after:
        s = np.where(allowed, s, -np.inf)
    if stable:
        s = s - s.max(axis, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):  # the unstable variant overflows on purpose
        w = np.exp(s)
        w = w / w.sum(axis, keepdims=True)
    if allowed is not None and after:
        w = np.where(allowed, w, 0.0)
    return w @ v


def test_checker_passes_correct_answers():
    assert ch08.check_causal_attention(_correct)
    assert ch08.check_causal_attention(lambda q, k, v: np.asarray(attention(jnp.asarray(q, jnp.float32), jnp.asarray(k, jnp.float32),
                                                                            jnp.asarray(v, jnp.float32), causal_mask(q.shape[-2]))[0]))


@pytest.mark.parametrize("answer, message", [
    (lambda q, k, v: _variant(q, k, v, mask=None), "apply the causal mask"),
    (lambda q, k, v: _variant(q, k, v, mask="upper"), "wrong way round"),
    (lambda q, k, v: _variant(q, k, v, scale=lambda d: 1.0), "divide the scores by sqrt(d)"),
    (lambda q, k, v: _variant(q, k, v, scale=lambda d: d), "not by d"),
    (lambda q, k, v: _variant(q, k, v, after=True), "*before* the softmax"),
    (lambda q, k, v: _variant(q, k, v, stable=False), "exp() overflows"),
    (lambda q, k, v: _correct(q, k, v)[..., :-1], "must have shape"),
    (lambda q, k, v: (_correct(q, k, v), None), "not a tuple"),
    (lambda q, k, v: None, "returned None"),
    (lambda q, k, v: 1 / 0, "ZeroDivisionError"),
    (lambda q, k, v: _correct(q, k, v) + 0.1, "differ from causal attention"),
])
def test_checker_explains_mistakes(answer, message):
    result = ch08.check_causal_attention(answer)
    assert not result and message in result.message, result.message


def test_checker_softmax_over_the_wrong_axis():
    result = ch08.check_causal_attention(lambda q, k, v: np.nan_to_num(_variant(q, k, v, axis=-2, stable=False)))
    assert not result


def test_checker_on_the_untouched_stub():
    def stub(q, k, v):
        raise NotImplementedError

    result = ch08.check_causal_attention(stub)
    assert not result and "write its body" in result.message
    assert not ch08.check_causal_attention("not a function")
    assert "returned None" in ch08.check_causal_attention(lambda q, k, v: None).message  # the notebook's stub


# ============================================================================ the notebook's form
def _notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_form():
    """What is particular to this chapter; the setup cell, empty outputs and the exercise anatomy
    are checked for every chapter by test_notebooks.py."""
    nb = _notebook()
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for term in ("어텐션", "쿼리/키/값", "셀프 어텐션", "멀티헤드", "위치 인코딩", "KV 캐시"):
        assert term in text, term
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"[\uac00-\ud7a3]", code), "no Hangul in figures: matplotlib has no font for it"
    bib = (ROOT / "references.bib").read_text()
    for citation in ("vaswani2017attention", "bahdanau2015neural", "radford2019language", "kaplan2020scaling",
                     "pope2023efficiently"):
        assert citation in text and f"{{{citation}," in bib, citation
    for shown in ("show_source(attention)", "show_source(MultiHeadAttention.__call__)", "show_source(Block.__call__)",
                  "show_source(MultiHeadAttention.decode)"):
        assert shown in code
    assert "ch08.check_causal_attention(causal_attention)" in code


def test_terms_are_defined_before_use():
    """Layer normalisation, GELU, AdamW, the warm-up and the cosine decay are each defined (in bold,
    with what they compute) before the prose first uses them; GPT is Radford et al. 2018, residual
    connections He et al. 2016."""
    nb = _notebook()
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    prose = re.sub(r"^\([\w-]+\)=$", "", prose, flags=re.M)  # MyST targets (the glossary's labels) are not prose
    for term, formula in (("**Layer normalisation**", r"\text{LN}(x) ="), ("**GELU**", r"\text{GELU}(z) = z\,\Phi(z)"),
                          ("**AdamW**", r"\hat m / (\sqrt{\hat v} + \epsilon)"), ("**warm-up**", "in a straight line from 0"),
                          ("**cosine decay**", r"\cos\left(\pi")):
        defined = prose.index(term)
        assert formula in prose[defined:defined + 1500], term
        plain = {"**Layer normalisation**": "layer norm", "**cosine decay**": "cosine decay"}.get(term, term.strip("*").lower())
        # (the block's formula, just above the definition, names "a layer normalisation in front" first)
        assert plain not in prose[:defined].lower().replace("with a layer normalisation in front", ""), term
    assert "{cite:t}`radford2018improving`" in prose and "{cite}`he2016deep`" in prose
    bib = (ROOT / "references.bib").read_text()
    for key in ("radford2018improving", "he2016deep", "ba2016layer", "hendrycks2016gaussian", "loshchilov2019decoupled",
                "chowdhery2022palm"):
        assert f"{{{key}," in bib, key


def test_every_glued_name_in_the_prose_is_glued_by_the_code():
    used, glued = glue_names(_notebook())
    assert used and used <= glued, sorted(used - glued)


def test_no_number_typed_into_the_prose_that_the_preset_changes():
    """Numbers in the prose come from glue; the few typed ones are facts that no preset changes."""
    nb = _notebook()
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    text = re.sub(r"```python\n.*?\n```", "", text, flags=re.S)  # code in solutions
    text = re.sub(r"\{glue:text\}`[^`]*`|\{cite\}`[^`]*`|\{doc\}`[^`]*`|\$[^$]*\$|:label: \S+|ex08-\S+", "", text)
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code (an exercise's `dropout=0.1`)
    typed = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text))
    allowed = {"1", "2", "4", "5", "7", "8", "150", "200", "512", "64", "72", "12", "768", "1024", "0", "3", "10000",
               "1.5", "0.5", "4.5", "2017", "2019",
               "100", "000"}  # "the first 100,000 characters of the training text" (an exercise's choice)
    assert typed <= allowed, sorted(typed - allowed)


# ============================================================================ measuring the heads
def _previous_only(t):
    w = np.zeros((t, t))
    w[0, 0] = 1
    w[np.arange(1, t), np.arange(t - 1)] = 1
    return w[None, None]  # (1 layer, 1 head, t, t)


def test_a_head_reading_the_previous_token():
    w = _previous_only(9)
    assert tx.previous_token_share(w)[0, 0] == pytest.approx(1.0)
    assert tx.attention_distance(w)[0, 0] == pytest.approx(1.0)


def test_a_head_attending_evenly():
    t = 12
    w = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]
    assert tx.attention_distance(w[None, None])[0, 0] == pytest.approx(tx.even_attention_distance(t))
    assert tx.previous_token_share(w[None, None])[0, 0] == pytest.approx(np.mean(1 / np.arange(2, t + 1)))


def test_token_pieces_join_up_to_the_text():
    from llmcourse.tokenizers import BPETokenizer

    tok = BPETokenizer.train("the cat sat on the mat. " * 50, 280)
    text = "The cat, the mat; ünïcode too."
    pieces = tx.token_pieces(tok, "the cat sat")
    assert "".join(pieces) == "the cat sat" and len(pieces) < len("the cat sat")
    assert tok.decode(tok.encode(text)) == text  # byte-level: nothing is lost, nothing is <unk>


# ============================================================================ counting the steps that wait
def test_loop_iterations_count_the_chain_of_each_model():
    import jax
    from flax import nnx

    from llmcourse.config import preset
    from llmcourse.models.rnn import CharRNN

    gpt = tx.build_gpt(preset("tiny"), 300)
    lstm = CharRNN(300, 16, cell="lstm", embed_dim=8, rngs=nnx.Rngs(0))
    for length in (8, 32):
        assert tx.loop_iterations(gpt, length) == 0  # every position of a layer at once
        assert tx.loop_iterations(lstm, length, batch=3) == length  # one step per token, whatever the batch

    class Nested(nnx.Module):  # a loop of 3 steps, each running a loop of 5: 15 steps in all
        def __call__(self, ids):
            def outer(carry, _):
                return jax.lax.scan(lambda c, _: (c + 1, None), carry, None, length=5)[0], None

            return jax.lax.scan(outer, ids.sum(), None, length=3)[0]

    assert tx.loop_iterations(Nested(), 4) == 15

    class Unbounded(nnx.Module):
        def __call__(self, ids):
            return jax.lax.while_loop(lambda c: c < 10, lambda c: c + 1, ids.sum())

    with pytest.raises(ValueError, match="while loop"):
        tx.loop_iterations(Unbounded(), 4)
    assert re.fullmatch(r"\d+ CPU cores?|\d+ × .+", tx.this_machine())
