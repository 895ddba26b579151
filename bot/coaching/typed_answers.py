"""Reading typed answers as a fair person would: filler, typos, number words and time units.

Short answers: case, punctuation, leading articles and filler are ignored, words that
only echo the question are dropped, and small typos are forgiven (rapidfuzz). An
answer that is similar but not acceptable is a near miss: graded wrong, told "close".
Numbers: words become digits (text2num), a unit may follow, and time units convert.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein
from text_to_num import alpha2digit

_NUMBER = re.compile(r"[-+−]?\d(?:[\d.,'\u00a0\u202f ]*\d)?")
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+$")

# Said before an answer without changing it (compared after punctuation becomes spaces,
# so "I'd" is "i d"); longest first, stripped again and again from the front.
_LEADING_FILLER = sorted(
    (
        "a",
        "an",
        "the",
        "i would",
        "i would say",
        "i d",
        "i d say",
        "i will",
        "i ll",
        "i",
        "just",
        "please",
        "you should",
        "we should",
        "you",
        "say",
        "simply",
        "to",
    ),
    key=lambda phrase: -len(phrase),
)
_TRAILING_FILLER = ("please", "it", "them", "you")  # "how can I help" = "how can I help you"
_ECHO_MIN_CHARS = 4  # shorter words of the question ("not", "no") may change an answer's sense
NEAR_MISS_SCORE = 70  # rapidfuzz WRatio at or above which a wrong answer is "close"


class NotAnAnswer(ValueError):
    """The input cannot answer this item (unknown button, no number in the text)."""


def normalise_text(text: str) -> str:
    """Fold case, punctuation and spacing so `Next Steps!` matches `next steps`."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return " ".join(kept.split())


def core_words(text: str) -> list[str]:
    """The words of an answer without case, punctuation, leading filler or trailing `it`/`you`."""
    words = normalise_text(text).split()
    stripped = True
    while stripped and words:
        stripped = False
        for phrase in _LEADING_FILLER:
            size = len(phrase.split())
            if len(words) > size and words[:size] == phrase.split():
                words, stripped = words[size:], True
                break
    while len(words) > 1 and words[-1] in _TRAILING_FILLER:
        words = words[:-1]
    return words


def _allowed_typos(length: int) -> int:
    """How many single-letter slips an answer of `length` characters may hold."""
    if length <= 3:
        return 0
    return 1 if length <= 7 else 2


@dataclass(frozen=True, slots=True)
class ShortMatch:
    """How a typed short answer compares with the accepted ones."""

    correct: bool
    close: bool  # wrong, but near enough to say "close" and name the key


def match_short(accepted: Sequence[str], text: str, *, prompt: str = "") -> ShortMatch:
    """Whether `text` is an accepted answer (or a small typo of one), else whether it is close."""
    said = core_words(text)
    echoes = {word for word in normalise_text(prompt).split() if len(word) >= _ECHO_MIN_CHARS}
    wanted = [" ".join(core_words(option)) for option in accepted]
    for option in wanted:
        kept = [word for word in said if word not in echoes or word in option.split()]
        answer = " ".join(kept or said)
        limit = _allowed_typos(len(option))
        if DamerauLevenshtein.distance(answer, option, score_cutoff=limit) <= limit:
            return ShortMatch(correct=True, close=False)
    best = process.extractOne(" ".join(said), wanted, scorer=fuzz.WRatio)
    return ShortMatch(correct=False, close=best is not None and best[1] >= NEAR_MISS_SCORE)


def _first_number(text: str) -> tuple[float, str]:
    """The first number in `text` and the text after it; NotAnAnswer when there is none.

    `1,5` is one and a half, `1,500` and `1 500` are fifteen hundred, `1.234,5`
    and `1,234.5` both mean 1234.5.
    """
    match = _NUMBER.search(text.replace("−", "-"))
    if match is None:
        raise NotAnAnswer("no number in the answer")
    raw = re.sub(r"[\s'\u00a0\u202f]", "", match.group())
    if "," in raw and "." in raw:
        decimal = "," if raw.rfind(",") > raw.rfind(".") else "."
        raw = raw.replace("." if decimal == "," else ",", "").replace(",", ".")
    elif "," in raw:
        raw = raw.replace(",", "") if _THOUSANDS.match(raw.lstrip("+-")) else raw.replace(",", ".")
    if raw.count(".") > 1:
        raise NotAnAnswer(f"cannot read {match.group()!r} as a number")
    return float(raw), text.replace("−", "-")[match.end() :]


# Units of time, in days; a working day counts as a day, so "24 hours" is one working day.
_TIME_UNITS = {
    "minute": 1 / 1440,
    "min": 1 / 1440,
    "hour": 1 / 24,
    "hr": 1 / 24,
    "h": 1 / 24,
    "day": 1.0,
    "working day": 1.0,
    "business day": 1.0,
    "workday": 1.0,
    "week": 7.0,
}


def _time_unit(words: list[str]) -> float | None:
    """The length in days of the time unit the words start with, if they start with one."""
    for size in (2, 1):
        phrase = " ".join(word.removesuffix("s") for word in words[:size])
        if len(words) >= size and phrase in _TIME_UNITS:
            return _TIME_UNITS[phrase]
    return None


def read_number(text: str, *, unit: str | None = None) -> float:
    """A typed number in the item's unit: `two`, `2 rings`, `24 hours` for one working day.

    Spaces and decimal commas are read as people write them (see `_first_number`).
    """
    digits = alpha2digit(text, "en", threshold=0)
    value, rest = _first_number(digits)
    said = _time_unit(normalise_text(rest).split())
    wanted = _time_unit(normalise_text(unit).split()) if unit else None
    if said is not None and wanted is not None:
        return value * said / wanted
    return value
