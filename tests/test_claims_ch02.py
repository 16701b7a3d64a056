"""Chapter 2, "From rules to learning": every number, comparison and qualitative statement its prose
makes about a measured result, asserted on the values the notebook glued when the book was executed
at the ``cpu`` preset (what readers see); the exercise solutions' claims checked at cpu."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmcourse.data import polarity_sentences
from llmcourse.metrics import accuracy
from llmcourse.models.rules import KeywordRules

STEM = "02_rules_to_learning"
LOG2 = math.log(2)


@pytest.fixture(scope="module")
def g(executed_book) -> dict:
    return executed_book.glue(STEM)


# ============================================================================ the data
def test_claim_the_data(g):
    # "only a sample of 200 ships with the gensim library"; half of them positive
    assert g["n_sentences"] == 200 and g["n_positive"] == 100
    examples = g["example_sentences"]
    assert [label for label, _ in examples] == [0, 0, 1, 1]  # the file lists the negative sentences first
    # "The sentences are lower-cased and their punctuation is split off by spaces. Some are easy
    # (simplistic, silly and tedious)"
    assert examples[0][1] == "simplistic , silly and tedious ."
    for _, sentence in examples:
        assert sentence == sentence.lower()
        assert not any(t[-1] in ",.!?;:" and any(c.isalnum() for c in t) for t in sentence.split()), sentence


# ============================================================================ keyword rules
def test_claim_the_rule_is_precise_but_mostly_silent(g):
    assert g["rules_decided"] + g["rules_silent"] == pytest.approx(1)
    # "The rule is precise but mostly silent": when a keyword decides it beats every method's
    # overall accuracy; it decides for under half of the sentences
    assert g["rules_acc_decided"] > max(g[f"acc_{m}"] for m in ("rules", "keywords", "words", "words_keywords"))
    assert g["rules_silent"] > 0.5
    # "the guess positive is right on only rules_acc_silent of them"
    assert g["rules_acc_silent"] < 0.5
    # "Over all 200 sentences the rule scores rules_acc, not far above the 50% of a coin flip"
    assert 0.5 < g["rules_acc"] < 0.6
    assert g["rules_acc"] == pytest.approx(g["rules_decided"] * g["rules_acc_decided"]
                                           + g["rules_silent"] * g["rules_acc_silent"])


def test_claim_the_rules_wrong_decisions(g):
    rows = g["rules_wrong_shown"]
    # "the first five negative and the first five positive sentences on which a keyword decided wrongly"
    assert [label for _, label, _, _ in rows] == ["negative"] * 5 + ["positive"] * 5
    assert all(says != label for _, label, _, says in rows)
    # "The rule decides wrongly on rules_n_wrong_decided sentences in all"
    assert g["rules_n_wrong_decided"] > len(rows)
    quoted = {  # fragment the prose quotes -> (label, positive / negative keywords)
        "only teenage boys could possibly find it funny": ("negative", "1 / 0"),  # praise used against
        "all the more startling for the slow buildup": ("positive", "0 / 1"),  # criticism used as praise
        "movies that don't care about being stupid": ("negative", "1 / 0"),  # don't turns stupid into praise
        "derrida is an undeniably fascinating and playful fellow": ("positive", "0 / 1"),  # not turns fascinating
        "painful to watch , but viewers willing to take a chance will be rewarded": ("positive", "0 / 1"),
    }
    for fragment, expected in quoted.items():
        matches = [(label, counts) for sentence, label, counts, _ in rows if fragment in sentence]
        assert matches == [expected], (fragment, matches)
    whether = next(s for s, *_ in rows if "derrida" in s)
    assert "whether or not you're enlightened by" in whether


# ============================================================================ learned keyword weights
def test_claim_the_learned_keyword_weights(g):
    # "close to the person's +1 and -1"
    assert abs(g["kw_w_pos"] - 1) < 0.4 and abs(g["kw_w_neg"] + 1) < 0.4
    # "one positive keyword is worth about as much as one negative keyword"
    assert abs(g["kw_w_pos"] + g["kw_w_neg"]) < 0.2
    # "The real change is the bias ... It is negative, so when no keyword appears the model says negative"
    assert g["kw_b"] < 0
    # "of the silent training sentences, silent_train_negative are negative" (the rule guessed positive)
    assert g["silent_train_negative"] > 0.5


def test_claim_one_fold(g):
    # "We split the 200 sentences into n_folds parts ... The split is stratified"
    assert g["n_train"] + g["n_test"] == g["n_sentences"] and g["n_test"] == g["n_sentences"] // g["n_folds"]
    assert g["test_positive_share"] == pytest.approx(g["n_positive"] / g["n_sentences"])
    # "One fold is a small sample, though: a single sentence moves the score by a few percentage points"
    assert 0.01 < 1 / g["n_test"] < 0.1


# ============================================================================ overfitting
def test_claim_both_models_start_at_log2(g):
    # "The dashed line is log 2, the loss of answering 0.5 for every sentence, which is where both models
    # start" (and exercise ex02-predict-loss: keyword_model.losses[0] is exactly log 2)
    for curves in g["loss_curves"].values():
        assert curves["train"][0] == pytest.approx(LOG2, rel=1e-6)
        assert curves["held_out"][0] == pytest.approx(LOG2, rel=1e-6)


def test_claim_the_keyword_model_levels_off_with_its_curves_close_together(g):
    train, held_out = g["loss_curves"]["keywords"]["train"], g["loss_curves"]["keywords"]["held_out"]
    # "two weights and a bias cannot memorise n_train sentences": its training loss stays far from 0
    assert train[-1] > 0.5
    assert abs(train[-1] - held_out[-1]) < 0.05  # "its two curves close together"
    assert abs(train[-1] - train[-11]) < 0.005  # "levels off"


def test_claim_the_word_model_overfits(g):
    train, held_out = g["loss_curves"]["words"]["train"], g["loss_curves"]["words"]["held_out"]
    # "the word model's training loss falls almost to zero (words_final_loss after the last step)"
    assert g["words_final_loss"] == pytest.approx(train[-1]) and g["words_final_loss"] < 0.01
    # "while its held-out loss is lowest at step words_best_eval_step and rises from then on"
    best = g["words_best_eval_step"]
    assert best == int(np.argmin(held_out)) and best < len(held_out) // 4
    assert np.all(np.diff(held_out[best:]) > -1e-4)
    assert held_out[-1] > held_out[0] + 0.1  # "grows more and more confident about answers that do not hold"
    # "the word model gets words_split_train_acc of its training sentences right and
    # words_split_test_acc of the held-out ones"
    assert g["words_split_train_acc"] == 1.0 and g["words_split_test_acc"] < 0.75
    # "With more weights than sentences"
    assert g["vocab_size"] > g["n_train"]
    # "On average, unseen_split of the distinct words in a held-out sentence never occur in the training
    # sentences"
    assert 0 < g["unseen_split"] < 1


# ============================================================================ the cross-validated comparison
def test_claim_the_cross_validated_comparison(g):
    # "Over n_fold_runs held-out folds": n_folds times, repeated n_repeats times
    assert g["n_fold_runs"] == g["n_folds"] * g["n_repeats"]
    # "learning the rule's three numbers pays off. The keyword weights get acc_keywords right against the
    # rules' acc_rules"
    assert g["acc_keywords"] > g["acc_rules"]
    # "they beat the rules on keywords_win_folds folds while losing on keywords_lose_folds; the remaining
    # folds are ties"
    assert g["keywords_win_folds"] > g["keywords_lose_folds"]
    assert g["keywords_win_folds"] + g["keywords_lose_folds"] < g["n_fold_runs"]
    # the rules need no training: their "training" score is their score
    assert g["train_rules"] == g["acc_rules"]
    # "The bag of words remembers its training sentences perfectly, yet on new sentences it scores
    # acc_words, about the rules' level"
    assert g["train_words"] == 1.0 and g["train_words_keywords"] == 1.0
    assert abs(g["acc_words"] - g["acc_rules"]) < 0.02
    # "Putting the keyword counts next to the words gives acc_words_keywords: better than words alone,
    # and about as good as the two keyword counts by themselves"
    assert g["acc_words_keywords"] > g["acc_words"]
    assert abs(g["acc_words_keywords"] - g["acc_keywords"]) < 0.02


def test_claim_decided_versus_silent(g):
    # "The keyword weights make exactly the rule's decisions wherever a keyword decides"
    assert g["keywords_agree_decided"] == 1.0
    assert g["acc_keywords_decided"] == pytest.approx(g["acc_rules_decided"])
    # "Their whole gain comes from the silent sentences, where the learned bias makes them say negative
    # almost every time"
    assert g["acc_keywords_silent"] > g["acc_rules_silent"]
    assert g["keywords_negative_silent"] > 0.95
    # "On the silent sentences it [the bag of words] beats both keyword methods"
    assert g["acc_words_silent"] > max(g["acc_keywords_silent"], g["acc_rules_silent"])
    # "Where the person's keywords are present, however, it is far less accurate than the lists"
    assert g["acc_words_decided"] < g["acc_rules_decided"] - 0.15
    # summary: "It does better than the rule where the rule is silent and much worse where a keyword decides"
    assert g["acc_words_silent"] > g["rules_acc_silent"] and g["acc_words_decided"] < g["rules_acc_decided"]
    # the table's overall numbers are the two groups, weighted by their share of the sentences
    for m in ("rules", "keywords", "words", "words_keywords"):
        mixed = g["rules_decided"] * g[f"acc_{m}_decided"] + g["rules_silent"] * g[f"acc_{m}_silent"]
        assert g[f"acc_{m}"] == pytest.approx(mixed)


def test_claim_single_folds_scatter(g):
    # "for the bag of words, single folds range from words_fold_min to words_fold_max. Differences of a
    # point or two between methods are therefore not worth much here"
    assert g["words_fold_min"] < g["acc_words"] < g["words_fold_max"]
    assert g["words_fold_max"] - g["words_fold_min"] > 10 * 0.02


# ============================================================================ the learning curve
def test_claim_the_learning_curve(g):
    sizes, words, keywords = g["curve_sizes"], g["words_curve"], g["keywords_curve"]
    # "a growing, class-balanced part of every training fold, doubling it from point to point"
    assert all(b == pytest.approx(2 * a) for a, b in zip(sizes, sizes[1:]))
    assert [g["size_first"], g["size_second"], g["size_before_last"], g["size_last"]] == \
        [round(sizes[0]), round(sizes[1]), round(sizes[-2]), round(sizes[-1])]
    assert g["size_last"] == g["n_train"]
    assert words[0] == pytest.approx(g["words_curve_first"]) and keywords[0] == pytest.approx(g["keywords_curve_first"])
    # "With size_first or size_second training sentences it is a coin flip"
    assert all(abs(a - 0.5) < 0.03 for a in (g["words_curve_first"], g["words_curve_second"]))
    # "From there it climbs, and it is still climbing when we run out of sentences"
    assert all(b > a for a, b in zip(words[1:], words[2:])), words
    # "The last doubling ... adds words_last_gain percentage points, against keywords_last_gain for the
    # keyword weights"
    assert g["words_last_gain"] == pytest.approx(100 * (words[-1] - words[-2]))
    assert g["keywords_last_gain"] == pytest.approx(100 * (keywords[-1] - keywords[-2]))
    assert g["words_last_gain"] > g["keywords_last_gain"]
    # "The keyword model starts higher (keywords_curve_first with size_first sentences)"
    assert g["keywords_curve_first"] > g["words_curve_first"]
    # the curve's last point is the cross-validated comparison itself
    assert words[-1] == pytest.approx(g["acc_words"]) and keywords[-1] == pytest.approx(g["acc_keywords"])


# ============================================================================ the word model's weights and mistakes
def test_claim_the_largest_weights(g):
    assert g["n_top_total"] == 2 * g["n_top"]
    # "Only n_top_in_lists of these n_top_total words are on the person's lists"
    assert g["n_top_in_lists"] < g["n_top_total"] / 2
    # "Many are accidents: n_top_one_sentence of the n_top_total occur in a single sentence"
    assert g["n_top_one_sentence"] >= g["n_top_total"] / 3
    # "the starred words whose weight points the opposite way from the person's lists ... One sentence,
    # with a debatable label, is enough to turn a word around"
    against = g["against_sentence_counts"]
    assert len(against) == g["n_top_against"] >= 1
    assert all(count == 1 for count in against.values()), against


def test_claim_the_word_models_mistakes_carry_words_seen_once(g):
    rare = g["mistakes_one_sentence_words"]
    assert len(rare) == 8  # "The first four negative and the first four positive sentences"
    # "Several of these sentences carry their opinion in words that occur in no other sentence of the
    # data set, such as devoid, vapid and stale"
    assert sum(bool(words) for words in rare) >= 3
    for word in ("devoid", "vapid", "stale"):
        assert any(word in words for words in rare), word


# ============================================================================ exercise solutions
def test_claim_exercise_predict_the_rule():
    rules = KeywordRules()
    # "Counts (2, 0), score +2: positive, which is right"
    assert rules.counts("Not bad at all, and never boring.") == (2, 0)
    assert rules.score("Not bad at all, and never boring.") == 2
    # "Counts (1, 1), score 0: the rule is silent and guesses positive"
    s = "Not only clever but also funny."
    assert rules.counts(s) == (1, 1) and rules.score(s) == 0
    assert rules.undecided([s]).tolist() == [True] and rules.predict([s]).tolist() == [1]


def test_claim_exercise_tuning_on_the_test(g):
    data = polarity_sentences()
    negative_guess = accuracy(KeywordRules(default=0).predict(data.sentences), data.labels)
    # "The two numbers are close"
    assert abs(negative_guess - g["acc_keywords"]) < 0.02


def test_claim_exercise_rules_first_learning_second(g):
    # The combination takes the rule's answer where a keyword decides and the bag of words' held-out
    # answer where it is silent, so its accuracy over all repeats is "the mix of the two, weighted by how
    # many sentences fall in each group"; "It beats both parts"
    combined = g["rules_decided"] * g["acc_rules_decided"] + g["rules_silent"] * g["acc_words_silent"]
    assert combined > max(g["acc_rules"], g["acc_words"])
    # "Both per-group numbers are above the rules' overall acc_rules and the bag of words' acc_words"
    assert min(g["acc_rules_decided"], g["acc_words_silent"]) > max(g["acc_rules"], g["acc_words"])
    # "the number the code prints is higher than every row of the comparison table"
    assert combined > max(g[f"acc_{m}"] for m in ("rules", "keywords", "words", "words_keywords"))
