"""Chapter 5's claims, asserted on what the reader sees: the values the notebook glued when the book
was executed at the ``cpu`` preset (``executed_book``), plus one exercise solution replayed at cpu.
Each test quotes the prose it checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from llmcourse import metrics, scoreboard
from llmcourse.config import preset
from llmcourse.data import wikipedia_text
from llmcourse.experiments import language_models as lm
from llmcourse.models.ngram import CharNGramModel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def g(executed_book):
    return executed_book.glue("05_language_models")


@pytest.fixture(scope="module")
def printed(executed_book) -> str:
    """Everything the cpu execution printed (the text outputs of its code cells)."""
    nb = executed_book.notebook(Path("chapters") / "05_language_models.ipynb")
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def test_claim_unknown_characters_get_probability(g):
    # "The validation text contains {unknown_chars} characters that never occur in training ... every
    # model in the book must give <unk> some probability, because one zero would make the score infinite"
    assert g["unknown_chars"] > 0
    assert all(math.isfinite(b) for b in g["kn_curve"] + g["addk_curve"] + g["addone_curve"] + [g["tri_bpc"]])
    # "Counting orders 1 to {max_order}": one score per order
    assert len(g["kn_curve"]) == g["max_order"]


def test_claim_more_context_sharper_predictions(g):
    tops = g["prompt_top_three"]
    one, three, long = (tops[n] for n in sorted(tops))
    # "With no context (order 1) the model can only offer the most common characters of English: the
    # space, e, t"
    assert [c for c, _ in one] == [" ", "e", "t"]
    # "Two characters of context (an) put most of the probability on d (as in and) and on the space"
    assert [c for c, _ in three[:2]] == ["d", " "] and three[0][1] + three[1][1] > 0.5
    # "Six characters (f Fran) make the model almost certain of c"
    assert sorted(tops)[-1] == 7 and long[0][0] == "c" and long[0][1] > 0.85
    # "More memory gives sharper predictions"
    assert one[0][1] < three[0][1] < long[0][1]


def test_claim_long_histories_are_mostly_unseen(g):
    seen = g["seen_shares"]
    # "The longer the context, the more often both happen, because most long strings are new"
    assert all(b <= a for a, b in zip(seen, seen[1:])) and seen[-1] < seen[0]
    # "For order 3 the two previous characters were seen almost always ({seen_order3})"
    assert g["seen_order3"] == seen[2] and g["seen_order3"] > 0.99
    # "For order {max_order} only {seen_max} of the histories occur anywhere in the training text"
    assert g["seen_max"] == seen[-1] and g["seen_max"] < 0.6


def test_claim_trigram_scores(g):
    # "Perplexity = e^H"; "For a character model it is H / ln 2"
    assert g["tri_ppl"] == pytest.approx(math.exp(g["tri_ce"]))
    assert g["tri_bpc"] == pytest.approx(g["tri_ce"] / math.log(2))
    # "A uniform guess over V tokens has perplexity exactly V": log2 V bits
    assert g["uniform_bpc"] == pytest.approx(math.log2(g["vocab_size"]))
    # "On average it is as unsure as a choice among about that many characters, instead of {vocab_size}.
    # It needs {tri_bpc} bits per character, against {uniform_bpc} for a uniform guess"
    assert g["tri_ppl"] < g["vocab_size"]
    assert g["tri_bpc"] < g["uniform_bpc"]
    # the sweep scores the same model: its order-3 Kneser–Ney point is this number
    assert g["kn_curve"][2] == pytest.approx(g["tri_bpc"])


def test_claim_order_sweep(g):
    kn, ak, a1, train = (np.asarray(g[k]) for k in ("kn_curve", "addk_curve", "addone_curve", "kn_train_curve"))
    # the glued best orders and scores are those of the curves in the figure
    for curve, order, best in ((kn, "kn_best_order", "kn_best"), (ak, "addk_best_order", "addk_best"),
                               (a1, "addone_best_order", "addone_best")):
        assert int(np.argmin(curve)) + 1 == g[order] and curve.min() == pytest.approx(g[best])
    # "All three start at about the same unigram score"
    assert max(kn[0], ak[0], a1[0]) - min(kn[0], ak[0], a1[0]) < 0.02
    # "the first few orders help every smoothing a lot"
    for curve in (kn, ak, a1):
        assert curve[1] < curve[0] - 0.5 and curve[2] < curve[1]
    # "Add-one is best at order {addone_best_order} ({addone_best} bits) and gets worse fast after that"
    b1 = g["addone_best_order"]
    assert np.all(np.diff(a1[b1 - 1:]) > 0) and a1[-1] > a1[b1 - 1] + 2
    # "Add-k with a small k holds out until order {addk_best_order} ({addk_best} bits), then climbs to
    # {addk_last} at order {max_order}"
    bk = g["addk_best_order"]
    assert b1 < bk and np.all(np.diff(ak[bk - 1:]) > 0)
    assert g["addk_last"] == pytest.approx(ak[-1]) and g["addk_last"] > g["addk_best"] + 1
    # "Kneser–Ney keeps improving until order {kn_best_order} ({kn_best} bits per character). After that
    # the gains stop and it slowly gets worse, to {kn_last} at order {max_order}"
    bkn = g["kn_best_order"]
    assert bk < bkn < g["max_order"]
    assert np.all(np.diff(kn[:bkn]) < 0) and np.all(np.diff(kn[bkn - 1:]) > 0)
    assert g["kn_last"] == pytest.approx(kn[-1]) and 0 < g["kn_last"] - g["kn_best"] < 0.1
    # "Kneser–Ney falls back far more gracefully than add-k"
    assert g["kn_best"] < g["addk_best"] < g["addone_best"] and kn[-1] < ak[-1] - 2
    # "On the text it was counted from, the model keeps getting better with every order, down to
    # {kn_train_last} bits at order {max_order}" ... "fits its training data better and new data worse"
    assert np.all(np.diff(train) < 0) and g["kn_train_last"] == pytest.approx(train[-1])
    assert g["kn_train_last"] < g["kn_best"] - 1


def test_claim_samples_by_order(g):
    shares = g["word_shares"]
    orders = sorted(shares)
    # "Order 1 writes letter soup ...: only {share_order1} of its "words" are words of the training text"
    assert shares[1] == g["share_order1"] < 0.5
    # "Each added character of memory adds structure"
    assert all(shares[a] < shares[b] for a, b in zip(orders, orders[1:]))
    # "At order {max_order}, {share_last} of the words are real"
    assert orders[-1] == g["max_order"] and shares[orders[-1]] == g["share_last"] > 0.9


def test_claim_greedy_loops(g):
    # "After {greedy_start} characters it repeats the {greedy_period}-character cycle "{greedy_cycle}"
    # and never leaves it"
    text, period, start = g["greedy_text"], g["greedy_period"], len(lm.PROMPT) + g["greedy_start"]
    assert 0 < period == len(g["greedy_cycle"])
    tail = text[start:]
    assert tail.startswith(g["greedy_cycle"]) and len(tail) > 5 * period
    assert all(tail[i] == tail[i - period] for i in range(period, len(tail)))


def test_claim_temperature(g, printed):
    low, high = g["temp_low"], g["temp_high"]
    bars = g["temperature_bars"]
    assert low < 1.0 < high and sorted(bars) == sorted(lm.TEMPERATURES)
    # "The ranking of the characters never changes, only how far apart their probabilities are"
    for t, p in bars.items():
        assert all(b <= a + 1e-7 for a, b in zip(p, p[1:])), t
    # "It gets probability {top_low} at T = {temp_low}, {top_one} at T = 1 and {top_high} at T = {temp_high}"
    assert (g["top_low"], g["top_one"], g["top_high"]) == (bars[low][0], bars[1.0][0], bars[high][0])
    assert g["top_low"] > g["top_one"] > g["top_high"]  # T < 1 sharper, T > 1 flatter
    # "the total of all the other characters ... grows from {other_one} at T = 1 to {other_high}"
    assert g["other_one"] < g["other_high"]
    # "Each sample is scored by the same unchanged model, the T = 1 distribution, as the printout says.
    # At low temperature the text is safe and predictable: it costs {bits_low} bits per character under
    # the T = 1 model. The T = 1 sample costs {bits_one}. At T = {temp_high} ... the text costs {bits_high}"
    for t, bits in ((low, "bits_low"), (1.0, "bits_one"), (high, "bits_high")):
        assert f"T = {t:g}: {g[bits]:.2f} bits per character under the T = 1 model" in printed
    assert g["bits_low"] < g["bits_one"] < g["bits_high"]
    # "the model keeps picking from its long tail of rare symbols"
    hot = g["sample_high"][len(lm.PROMPT):]
    assert sum(ord(c) > 127 for c in hot) > 0.1 * len(hot)
    # "even at T = 1 the model's own text costs it fewer bits ({bits_one}) than the validation text
    # ({kn_best})"; "for this one, real text is the more expensive"
    assert g["bits_one"] < g["kn_best"]


def test_claim_top_k_and_top_p(g):
    # "Top-k always keeps {k} characters"
    assert set(g["topk_kept"].values()) == {g["k"]} and g["k_minus_one"] == g["k"] - 1
    # "After "the United Sta" the model gives t probability {p_sure_top}, yet top-k still lets in
    # {k_minus_one} more characters that the model itself finds very unlikely"
    sure = g["topk_sure_probs"]
    assert g["sure_top_char"] == "t" and sure[0] == g["p_sure_top"] > 0.95
    assert len(sure) == g["k"] and max(sure[1:]) < 0.01
    # "After "in the " the same {k} characters hold only {topk_unsure_mass} of the probability, so
    # top-k cuts off many good continuations"
    assert g["topk_unsure_mass"] < 0.5
    # "Top-p adapts to the shape of the distribution: the number of characters it keeps is {topp_sure} when
    # the model is sure and {topp_unsure} when it is not"
    assert g["topp_sure"] < g["k"] < g["topp_unsure"]


def test_claim_scoreboard(g):
    # "The n-gram models of this chapter open the table"
    assert g["board_models"] == ["char n-gram, Kneser–Ney", "char n-gram, add-k", "char bigram (2-gram)",
                                 "char unigram (1-gram)", "uniform over the vocabulary"]
    # "For now the best row is "{board_best}" at {board_best_bpc}": Kneser–Ney at its best order
    assert g["board_best"] == g["board_models"][0] and g["board_best_bpc"] == pytest.approx(g["kn_best"])
    # "roughly one bit per character ... The counting models ... are still far from that"
    assert g["board_best_bpc"] > 1.5


def test_claim_exercise_larger_discount(g):
    """ex05-discount: "Expect two curves that lie on top of each other for the first few orders and part
    where the contexts get long"; its solution prints each curve's best order and score: "In the cpu
    preset the best order moves up by one, and the best score improves a little (a few hundredths of a
    bit). After its best order the D = 0.9 curve stays almost flat instead of rising." Replays the
    solution's D = 0.9 curve (about 20 s) against the glued D = 0.75 one."""
    cfg = preset("cpu")
    model = CharNGramModel(wikipedia_text("train", max_chars=cfg.lm.train_chars), order=cfg.lm.ngram_max_order)
    valid = scoreboard.text(cfg)
    assert len(valid) == g["valid_chars"]
    curve = np.asarray([metrics.bits_per_char(model.with_options(order=n, discount=0.9).log_probs(valid))
                        for n in range(1, g["max_order"] + 1)])
    kn = np.asarray(g["kn_curve"])
    assert np.all(np.abs(curve[:3] - kn[:3]) < 0.005) and abs(curve[-1] - kn[-1]) > 0.05  # together, then apart
    assert int(np.argmin(curve)) + 1 - g["kn_best_order"] == 1  # moves up by one
    assert 0.005 < g["kn_best"] - curve.min() < 0.1  # a few hundredths of a bit better
    assert curve[-1] - curve.min() < 0.02 < g["kn_last"] - g["kn_best"]  # almost flat instead of rising
