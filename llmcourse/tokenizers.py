"""Turning text into tokens.

``words`` is the book's one rule for splitting English text into words, used from chapter 1 on:

* text is lower-cased;
* a word is a run of letters or digits, and may contain inner apostrophes or hyphens
  (``it's``, ``well-known``);
* every other visible character (``.``, ``,``, ``"``, ``(``, ...) is a token of its own;
* white space only separates tokens and is dropped.
"""

from __future__ import annotations

import re

_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*|[^\w\s]|_", re.UNICODE)


def words(text: str) -> list[str]:
    """Split ``text`` into lower-case word and punctuation tokens (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"words() expects a str, got {type(text).__name__}")
    return _WORD_RE.findall(text.lower())
