"""Checkers for the exercises: the learner passes their answer, the checker says "passed" or
exactly what is wrong. One module per chapter (``ch01``, ``ch02``, ...). Checkers never raise on a
wrong answer — they explain it — so a notebook with an unfinished exercise still runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return ("✅ passed: " if self.passed else "❌ not yet: ") + self.message

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        return ("**✅ passed:** " if self.passed else "**❌ not yet:** ") + self.message


def passed(message: str = "well done.") -> CheckResult:
    return CheckResult(True, message)


def failed(message: str) -> CheckResult:
    return CheckResult(False, message)


def call_safely(function, *args):
    """Call the learner's function; return (value, None) or (None, CheckResult explaining the error)."""
    if not callable(function):
        return None, failed(f"expected a function, got {type(function).__name__}")
    try:
        return function(*args), None
    except NotImplementedError:
        return None, failed("the function still raises NotImplementedError — write its body first.")
    except Exception as err:  # the learner's bug: report it instead of crashing the notebook
        return None, failed(f"calling your function raised {type(err).__name__}: {err}")
