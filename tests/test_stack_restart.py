"""The launcher's restart back-off (issue 9, item 9), on ``scripts/stack.py``'s own ``Child``: the delay doubles up
to 30 s and starts again from 1 s after a minute up. The stacks killed and restarted for real under ``make run``
are in ``tests/test_make_run.py`` (they share its one stack)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_restart_delay_doubles_up_to_30s_and_starts_again_from_1s_after_a_minute_up(stack, capsys):
    assert [stack.restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]

    # given a child that exits at once with status 3 (the clock is given, not waited for)
    child = stack.Child("celery worker", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    child.start(now=0.0)
    child.proc.wait(10)

    # when the launcher looks at it: one line, and a restart in 1 s
    child.tend(now=0.5)
    assert capsys.readouterr().out == "[stack] celery worker exited with status 3; restarting in 1s (restart 1)\n"
    first = child.proc
    child.tend(now=1.0)
    assert child.proc is first  # not yet
    child.tend(now=1.5)
    assert child.proc is not first  # started again

    # when it crashes again at once: 2 s
    child.proc.wait(10)
    child.tend(now=2.0)
    assert capsys.readouterr().out == "[stack] celery worker exited with status 3; restarting in 2s (restart 2)\n"

    # when it crashes after more than a minute up: 1 s again
    child.tend(now=4.0)
    child.proc.wait(10)
    child.tend(now=4.0 + stack.STABLE_AFTER + 1)
    assert capsys.readouterr().out == "[stack] celery worker exited with status 3; restarting in 1s (restart 3)\n"
