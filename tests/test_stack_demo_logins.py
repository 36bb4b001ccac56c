"""What ``make run`` prints of the demo logins (``scripts/stack.py``'s ``DEMO_LOGINS``) names every demo user the
README's "Demo logins" table lists and every demo staff member with an authenticator (``demo.totp.DEMO_STAFF``):
the banner once left out investor6 and the second operator, depository operator and regulator, whom every
two-person approval of the demo needs."""

from __future__ import annotations

import re
from pathlib import Path

from demo.totp import DEMO_STAFF

ROOT = Path(__file__).resolve().parent.parent


def _names(text: str) -> set[str]:
    """The user names a cell of logins gives: ``a, b`` and ranges ``investor1 … investor5``."""
    names: set[str] = set()
    for first, last in re.findall(r"([a-z]+\d*)(?:`?\s*…\s*`?([a-z]+\d+))?", text):
        if last:
            stem, lo = re.fullmatch(r"([a-z]+)(\d+)", first).groups()
            names |= {f"{stem}{i}" for i in range(int(lo), int(re.search(r"\d+$", last).group()) + 1)}
        else:
            names.add(first)
    return names


def test_the_printed_demo_logins_name_every_demo_user_of_the_readme_and_every_demo_staff_member(stack):
    # given the README's table of demo logins (its first column) and the staff the demo enrols
    table = re.search(r"\| login \| role \|\n\|---\|---\|\n((?:\|.*\|\n)+)", (ROOT / "README.md").read_text()).group(1)
    readme = set().union(*(_names(row.split("|")[1]) for row in table.splitlines()))
    assert {"investor1", "investor5", "investor6", "mm2", "operator2", "depository2", "regulator2"} <= readme

    # when make run prints its logins
    printed = set().union(*(_names(who) for who, _ in stack.DEMO_LOGINS))

    # then it names each of them, and no one else
    assert printed == readme
    assert set(DEMO_STAFF) <= printed
    # and the password it prints is the README's
    assert "`demo-pass-2026`" in (ROOT / "README.md").read_text()
    assert stack.DEMO_PASSWORD == "demo-pass-2026"
