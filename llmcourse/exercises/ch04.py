"""Checkers for chapter 4, "Tokens: turning text into numbers"."""

from __future__ import annotations

from numbers import Integral

from llmcourse.exercises import CheckResult, call_safely, failed, passed
from llmcourse.tokenizers import count_pairs, merge_pair

# (ids, pair, new_id) cases for merge_pair, easiest first. Each catches a different mistake: the
# basic merge, an empty list, a single id, a pair at the very end, order inside the pair, a run
# that overlaps itself (odd and even length), and a new id far above the others.
MERGE_CASES: list[tuple[list[int], tuple[int, int], int]] = [
    ([1, 2, 3, 1, 2], (1, 2), 99),
    ([], (1, 2), 99),
    ([5], (5, 5), 99),
    ([3, 4, 1, 2], (1, 2), 99),
    ([1, 2, 1], (2, 1), 99),
    ([2, 1, 2, 1], (1, 2), 99),
    ([7, 7, 7], (7, 7), 256),
    ([7, 7, 7, 7], (7, 7), 256),
    ([104, 101, 108, 108, 111], (108, 108), 300),
]

# id lists for count_pairs: a plain list, empty, a single id, a repeated pair, an overlapping run.
COUNT_CASES: list[list[int]] = [
    [1, 2, 3],
    [],
    [5],
    [1, 2, 1, 2],
    [7, 7, 7],
    [104, 101, 108, 108, 111, 32, 104, 101],
]


def _as_int_list(answer, where: str):
    """(list of ints, None) or (None, message) for the learner's returned ids."""
    if answer is None:
        return None, f"{where}: your function returned None — return the new list of ids."
    if not isinstance(answer, (list, tuple)):
        return None, f"{where}: your function returned a {type(answer).__name__}; return a list of ids."
    bad = [x for x in answer if isinstance(x, bool) or not isinstance(x, Integral)]
    if bad:
        return None, f"{where}: every id should be an int, got {bad[0]!r}."
    return [int(x) for x in answer], None


def check_merge_pair(function) -> CheckResult:
    """Check ``function(ids, pair, new_id) -> list`` that replaces every occurrence of ``pair`` by ``new_id``.

    Occurrences are taken left to right and never share a token, as in ``llmcourse.tokenizers.merge_pair``.
    """
    for ids, pair, new_id in MERGE_CASES:
        expected = merge_pair(ids, pair, new_id)
        given = list(ids)
        answer, error = call_safely(function, given, pair, new_id)
        where = f"merge_pair({ids}, {pair}, {new_id})"
        if error is not None:
            if "NotImplementedError" in error.message:
                return error
            return failed(f"{where}: {error.message}")
        if given != ids:
            return failed(f"{where}: your function changed the list it was given (now {given}); "
                          "build and return a new list instead.")
        got, problem = _as_int_list(answer, where)
        if problem:
            return failed(problem)
        if got == expected:
            continue
        hint = ""
        if expected and got == expected[:-1] + list(pair):
            hint = " Hint: the pair can end exactly at the end of the list; merge it there too."
        elif expected and got == expected[:-1]:
            hint = " Hint: the last id is missing: when your loop stops early, append what is left."
        elif new_id in got and len(got) > len(expected):
            hint = (" Hint: a merged pair uses up two tokens: after writing new_id, move on by two "
                    "positions, not one.")
        elif pair[0] == pair[1] and len(ids) >= 3:
            hint = (" Hint: a run like 7, 7, 7 holds the pair twice, but the two occurrences share the "
                    "middle token; once two tokens are merged, carry on after both of them.")
        elif got == list(ids):
            hint = " Hint: nothing was merged — compare neighbours ids[i] and ids[i + 1] with the pair."
        elif pair[0] != pair[1] and got == merge_pair(ids, (pair[1], pair[0]), new_id):
            hint = f" Hint: the pair is ordered: {pair} means {pair[0]} followed by {pair[1]}."
        return failed(f"{where}: expected {expected}, got {got}.{hint}")
    return passed(f"your merge agrees with the package on all {len(MERGE_CASES)} cases, "
                  "including empty lists, pairs at the end and overlapping runs.")


def check_count_pairs(function) -> CheckResult:
    """Check ``function(ids) -> dict`` that counts every pair of neighbouring ids, ``{(a, b): count}``."""
    for ids in COUNT_CASES:
        expected = dict(count_pairs(ids))
        given = list(ids)
        answer, error = call_safely(function, given)
        where = f"count_pairs({ids})"
        if error is not None:
            if "NotImplementedError" in error.message:
                return error
            return failed(f"{where}: {error.message}")
        if given != ids:
            return failed(f"{where}: your function changed the list it was given (now {given}).")
        if answer is None:
            return failed(f"{where}: your function returned None — return a dict {{(a, b): count}}.")
        if not isinstance(answer, dict):
            return failed(f"{where}: your function returned a {type(answer).__name__}; return a dict "
                          "{(a, b): count} (a collections.Counter is fine).")
        for key, value in answer.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                return failed(f"{where}: keys should be pairs (a, b) of neighbouring ids, got the key {key!r}.")
            if isinstance(value, bool) or not isinstance(value, Integral):
                return failed(f"{where}: counts should be ints, got {value!r} for {key}.")
        extra = sorted(set(answer) - set(expected))
        if extra:
            return failed(f"{where}: {extra[0]} is not a pair of neighbours in {ids}, but your dict has it "
                          f"(expected {expected}).")
        missing = sorted(set(expected) - set(answer))
        if missing:
            hint = " Hint: the last two ids form a pair too." if missing[0] == tuple(ids[-2:]) else ""
            return failed(f"{where}: the pair {missing[0]} is missing (expected {expected}).{hint}")
        for key, value in expected.items():
            if answer[key] != value:
                hint = (" Hint: pairs overlap — in 7, 7, 7 the pair (7, 7) starts at position 0 and at "
                        "position 1.") if key[0] == key[1] and answer[key] < value else ""
                return failed(f"{where}: expected {key} to occur {value} time(s), got {answer[key]}.{hint}")
    return passed(f"your counts agree with the package on all {len(COUNT_CASES)} cases, "
                  "including empty lists and overlapping pairs.")
