"""Chapter 1, "What is a large language model?": every number, comparison and qualitative statement
its prose makes about a measured result, asserted on the values the notebook glued when the book was
executed at the ``cpu`` preset (what readers see); the exercise solutions' claims replayed at cpu."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import pytest

from llmcourse.config import preset
from llmcourse.data import wikipedia_text
from llmcourse.models.ngram import BigramCounts
from llmcourse.tokenizers import words

STEM = "01_what_is_an_llm"
PUNCTUATION = re.compile(r"[^\w\s]")


@pytest.fixture(scope="module")
def g(executed_book) -> dict:
    return executed_book.glue(STEM)


def greedy_loop(sequence):  # as in the notebook: a word's first visit up to its second
    first_seen = {}
    for i, word in enumerate(sequence):
        if word in first_seen:
            return sequence[first_seen[word]:i]
        first_seen[word] = i
    return None


def is_rotation(a, b) -> bool:
    return len(a) == len(b) and " ".join(b) in " ".join(a + a)


def follows_loop_to_the_end(output, loop) -> bool:
    """From the loop's first word on, ``output`` is the loop repeated until it ends."""
    start = output.index(loop[0])
    return all(word == loop[i % len(loop)] for i, word in enumerate(output[start:]))


def repeats_a_trigram(output) -> bool:
    trigrams = list(zip(output, output[1:], output[2:]))
    return len(set(trigrams)) < len(trigrams)


# ============================================================================ the corpus
def test_claim_the_word_rule_makes_lower_case_words_and_punctuation_tokens(g):
    first = g["first_tokens"]
    assert len(first) == 30
    # "lower-case everything"
    assert all(t == t.lower() for t in first), first
    # "Commas and full stops are tokens too"
    assert {",", "."} <= set(first), first
    # the training text "has n_chars characters, which the word rule turns into n_tokens tokens"
    assert 0 < g["n_tokens"] < g["n_chars"]


# ============================================================================ next-word probabilities
def test_claim_one_word_dominates_after_united(g):
    # "After united one word dominates: <united_top_word> comes next <p_united_top> of the time"
    assert g["p_united_top"] > 0.5
    assert not PUNCTUATION.fullmatch(g["united_top_word"])


def test_claim_after_the_the_probability_is_spread_thin(g):
    # "After the the bars are barely visible [on the 0-1 axis] ... even the favourite gets only p_the_top"
    assert g["p_the_top"] < 0.05
    assert g["p_the_top"] < g["p_united_top"] / 10
    # "n_after_the different tokens follow the somewhere in the corpus" (out of n_vocab)
    assert 1 < g["n_after_the"] <= g["n_vocab"]


def test_claim_after_language_the_two_likeliest_tokens_are_punctuation(g):
    # "After language the two likeliest next tokens are punctuation marks"
    top2 = g["language_top2"]
    assert len(top2) == 2 and all(PUNCTUATION.fullmatch(w) for w in top2), top2


# ============================================================================ greedy vs sampled
def test_claim_greedy_repetition_is_easy_to_see(g):
    outputs = g["greedy_outputs"]
    assert set(outputs) == {"the", "united", "language"}
    n_words = preset("cpu").bigram.generate_words
    for prompt, output in outputs.items():
        assert output[0] == prompt and len(output) == n_words + 1
        # "Repetition is easy to see": some three-word stretch comes back in every output
        assert repeats_a_trigram(output), output


def test_claim_greedy_falls_into_the_same_loop_from_every_prompt_and_repeats_it(g):
    outputs, loops = g["greedy_outputs"], g["greedy_loops"]
    assert set(loops) == set(outputs)
    # "From all three prompts greedy decoding falls into the same loop, "<greedy_loop> …""
    assert all(loops.values()), loops
    assert g["greedy_loop"] == " ".join(loops["the"])
    assert all(is_rotation(loops["the"], loop) for loop in loops.values()), loops
    # "entered at different points"
    assert len({tuple(loop) for loop in loops.values()}) > 1, loops
    # "and repeats it forever": once in the loop, every output stays in it to its last word
    for prompt, output in outputs.items():
        assert follows_loop_to_the_end(output, loops[prompt]), (prompt, output)


def test_claim_sampling_differs_by_seed_and_does_not_repeat_itself(g):
    samples = g["sampled_outputs"]
    cfg = preset("cpu")
    assert sorted(samples) == list(range(cfg.seed, cfg.seed + 3))
    assert all(s[0] == "the" and len(s) == cfg.bigram.generate_words + 1 for s in samples.values())
    # "each seed gives a different continuation"
    assert len({tuple(s) for s in samples.values()}) == 3
    # "and none repeats itself" (unlike the greedy outputs above)
    for sample in samples.values():
        assert not repeats_a_trigram(sample), sample
        assert greedy_loop(sample) is None or not follows_loop_to_the_end(sample, greedy_loop(sample))


# ============================================================================ the limits of a one-word memory
def test_claim_prompts_ending_in_the_same_word_get_identical_predictions(g):
    predictions = g["same_last_word_predictions"]
    a, b = predictions["the capital of south korea is"], predictions["the cat is"]
    # "These two prompts end with the same word, so the model's predictions for them are identical"
    assert len(a) == 5 and a == b


def test_claim_many_validation_pairs_and_some_tokens_were_never_seen(g):
    assert g["n_val_tokens"] > 0
    # "unseen_pair_rate never occur in the training text ... Worse, unknown_word_rate of the
    # validation tokens are words it has never seen at all": both happen, new pairs far more often
    # (an unseen token makes an unseen pair, never the other way round)
    assert 0 < g["unknown_word_rate"] < g["unseen_pair_rate"] < 1
    assert g["unseen_pair_rate"] > 2 * g["unknown_word_rate"]
    # "Its table has room for n_possible_pairs pairs (every token followed by every token)"
    assert g["n_possible_pairs"] == g["n_vocab"] ** 2
    # "and only n_pairs_seen of them, pair_fill, were ever filled in"
    assert g["n_pairs_seen"] < g["n_possible_pairs"]
    assert g["pair_fill"] == pytest.approx(g["n_pairs_seen"] / g["n_possible_pairs"])
    assert g["pair_fill"] < 0.01


def test_claim_more_text_helps_but_slowly(g):
    sizes = g["slice_sizes"]
    pairs, tokens = g["unseen_pair_rates_by_size"], g["unknown_word_rates_by_size"]
    assert len(sizes) == len(pairs) == len(tokens) == 5
    assert all(b == 2 * a or b == 2 * a + 1 for a, b in zip(sizes, sizes[1:]))  # "doubles" each time
    # "Both curves go down"
    assert all(a > b for a, b in zip(pairs, pairs[1:])), pairs
    assert all(a > b for a, b in zip(tokens, tokens[1:])), tokens
    drops = [100 * (a - b) for a, b in zip(pairs, pairs[1:])]
    assert g["min_drop_points"] == pytest.approx(min(drops))
    assert g["max_drop_points"] == pytest.approx(max(drops))
    # "but slowly. Each time the training text doubles, the share of unseen pairs falls by only
    # min_drop_points to max_drop_points percentage points"
    assert 0 < g["min_drop_points"] <= g["max_drop_points"] < 10
    # "and at the full size unseen_pair_rate of the pairs are still new" (the same model as above)
    assert pairs[-1] == pytest.approx(g["unseen_pair_rate"])
    # (slowly: after four doublings more pairs are still new than the four doublings removed)
    assert pairs[-1] > pairs[0] - pairs[-1], pairs


# ============================================================================ exercise solutions (replayed at cpu)
@pytest.fixture(scope="module")
def corpus(g):
    cfg = preset("cpu")
    tokens = words(wikipedia_text("train", max_chars=cfg.data.wiki_max_chars))
    model = BigramCounts(tokens)
    assert len(tokens) == g["n_tokens"] and model.vocabulary_size == g["n_vocab"]  # the notebook's model
    return tokens, model, words(wikipedia_text("validation"))


def test_claim_exercise_sums(corpus):
    _, model, _ = corpus
    # "Exactly 1, up to rounding"
    assert math.isclose(sum(p for _, p in model.next_word_probabilities("the")), 1.0)
    # "No reason to be 1, and it is not"
    total = sum(dict(model.next_word_probabilities(w)).get("the", 0.0) for w in model.pairs)
    assert not math.isclose(total, 1.0, abs_tol=0.5), total


def test_claim_exercise_greedy_never_leaves_its_loop(corpus):
    # "run greedy decoding from united for 1,000 words ... It never leaves."
    _, model, _ = corpus
    out = model.generate("united", 1000, greedy=True)
    loop = greedy_loop(out)
    assert len(out) == 1001 and loop
    assert follows_loop_to_the_end(out, loop)


def test_claim_exercise_trigrams_still_loop_and_miss_more_of_the_validation_text(corpus, g):
    tokens, _, val_tokens = corpus
    triples = defaultdict(Counter)
    for a, b, c in zip(tokens, tokens[1:], tokens[2:]):
        triples[(a, b)][c] += 1
    out = ["the", "united"]
    for _ in range(60):  # "generate 60 words greedily from the united"
        followers = triples.get((out[-2], out[-1]))
        if not followers:
            break
        out.append(followers.most_common(1)[0][0])
    states = list(zip(out, out[1:]))
    # "Greedy decoding still loops": some pair of words (the state) comes back within the 60 words
    assert len(set(states)) < len(states)
    trigram_loop = greedy_loop(states)
    assert trigram_loop and follows_loop_to_the_end(states, trigram_loop)
    # "the loop can now be up to V^2 words long instead of V": a bound, not the length; "In the book's
    # run (the cpu preset), the loop from the united is no longer than the bigram model's"
    assert len(trigram_loop) <= len(g["greedy_loops"]["the"]), (trigram_loop, g["greedy_loops"]["the"])
    val_triples = list(zip(val_tokens, val_tokens[1:], val_tokens[2:]))
    unseen_triples = sum(c not in triples.get((a, b), {}) for a, b, c in val_triples) / len(val_triples)
    # "The share of unseen triples is much higher than the share of unseen pairs"
    assert unseen_triples > g["unseen_pair_rate"] + 0.2, (unseen_triples, g["unseen_pair_rate"])
