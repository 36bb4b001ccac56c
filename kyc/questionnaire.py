"""The risk questionnaire: answers score to an investor level C1 (most cautious) … C5.

Each question has options worth points; the total maps to a level. The texts
are translated on the pages; the keys and points are what is stored.
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

QUESTIONS: list[dict] = [
    {
        "key": "age",
        "text": _("Your age"),
        "options": [
            ("over_65", _("Over 65"), 1),
            ("50_65", _("50 to 65"), 3),
            ("30_50", _("30 to 50"), 5),
            ("under_30", _("Under 30"), 4),
        ],
    },
    {
        "key": "experience",
        "text": _("Years of investing in shares or funds"),
        "options": [
            ("none", _("None"), 0),
            ("lt2", _("Less than 2 years"), 2),
            ("2_5", _("2 to 5 years"), 4),
            ("gt5", _("More than 5 years"), 6),
        ],
    },
    {
        "key": "share_of_assets",
        "text": _("Share of your financial assets you would invest here"),
        "options": [("gt50", _("More than half"), 0), ("20_50", _("20% to 50%"), 2), ("lt20", _("Less than 20%"), 5)],
    },
    {
        "key": "loss_tolerance",
        "text": _("The largest loss in a year you could bear"),
        "options": [
            ("none", _("No loss"), 0),
            ("10", _("Up to 10%"), 2),
            ("30", _("Up to 30%"), 5),
            ("gt30", _("More than 30%"), 8),
        ],
    },
    {
        "key": "horizon",
        "text": _("How long you plan to hold an investment"),
        "options": [
            ("lt1", _("Less than a year"), 1),
            ("1_3", _("1 to 3 years"), 3),
            ("gt3", _("More than 3 years"), 5),
        ],
    },
    {
        "key": "knowledge",
        "text": _("Unlisted shares can be hard to sell, and may lose all their value"),
        "options": [("unaware", _("I did not know that"), 0), ("aware", _("I know and accept it"), 4)],
    },
]

# Upper bounds of each level's score (inclusive): ≤ 8 → C1, ≤ 14 → C2, …
QUESTION_KEYS = tuple(q["key"] for q in QUESTIONS)
LEVEL_BOUNDS = (8, 14, 20, 26)
# The levels ``score`` gives (1 … 5), by name as they are shown: C1 (most cautious) … C5.
LEVEL_NAMES = tuple(f"C{level}" for level in range(1, len(LEVEL_BOUNDS) + 2))


def level_name(level: int | None) -> str | None:
    """A risk level by name (C1 … C5); None for none (not assessed)."""
    return f"C{level}" if level else None


MAX_SCORE = sum(max(points for _k, _t, points in q["options"]) for q in QUESTIONS)


class InvalidAnswers(ValueError):
    """Answers that do not score; the message is in the active language."""


def score(answers: dict[str, str]) -> tuple[int, int]:
    """(score, level 1…5) for a complete set of answers; ``InvalidAnswers`` otherwise."""
    total = 0
    for q in QUESTIONS:
        choice = answers.get(q["key"])
        points = {key: p for key, _t, p in q["options"]}.get(choice)
        if points is None:
            raise InvalidAnswers(gettext("Answer every question (%(key)s).") % {"key": q["key"]})
        total += points
    extra = set(answers) - {q["key"] for q in QUESTIONS}
    if extra:
        raise InvalidAnswers(gettext("Unknown questions: %(keys)s.") % {"keys": ", ".join(sorted(extra))})
    level = 1 + sum(total > bound for bound in LEVEL_BOUNDS)
    return total, level
