"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """A mistake in the user's input (name, option, file): one line naming the problem and the fix."""

    exit_code = 2
    prefix = "Error"  # how the CLI starts the line


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ' (did you mean a, b?)' for the closest choices, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), sorted(set(choices)), n=n, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


# Names read letter by letter that start with a vowel sound ("an MLP", "an LSTM").
_SPELLED = ("mlp", "mlm", "lstm", "rnn", "simple_rnn", "fm")


def with_article(word: object) -> str:
    """``word`` with its indefinite article: "an audio", "an image", "a text", "an lstm"."""
    text = str(word)
    low = text.lower()
    vowel = low[:1] in tuple("aeiou") or low.startswith(_SPELLED)
    return f"{'an' if vowel else 'a'} {text}"
