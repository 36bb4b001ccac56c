"""The fast forms of the business checks (``BusinessCheck.read`` / ``agrees``) against their full forms: a
fast form may doubt where the full check finds nothing, never the other way round."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.verification import Report, rows_against_entries, rows_agree
from settlement.reconcile import _settlements_agree

ENTRY_IDS = st.integers(min_value=1, max_value=8)
VALUES = st.tuples(st.integers(min_value=0, max_value=2), st.sampled_from(["a", "b"]))


def _full(rows, entries, waiting) -> bool:
    report = Report()
    rows_against_entries(
        report,
        ((n, eid, values) for n, (eid, *values) in enumerate(rows)),
        {eid: list(v) for eid, v in entries.items()},
        lambda: waiting,
        fields=("x", "y"),
        name="row",
        no_entry="no entry",
        differs="differs",
        no_row="no row",
    )
    return report.ok


@settings(max_examples=400, deadline=None)
@given(
    rows=st.lists(st.tuples(ENTRY_IDS, *[st.integers(0, 2), st.sampled_from(["a", "b"])]), max_size=6),
    entries=st.dictionaries(ENTRY_IDS, VALUES, max_size=6),
    waiting=st.sets(ENTRY_IDS, max_size=4),
)
def test_rows_agree_never_passes_what_the_full_check_names(rows, entries, waiting):
    # given rows (entry id, values), the sealed entries' values and the waiting entries
    asked = []

    def pending():
        asked.append(1)
        return waiting

    # when both forms judge them
    fast = rows_agree(rows, entries, pending)
    full = _full(rows, {k: tuple(v) for k, v in entries.items()}, waiting)

    # then the fast form agrees only where the full check finds nothing
    assert not fast or full
    # and where every row is one of the sealed entries, exactly, both pass without asking what is waiting
    if sorted(rows) == sorted((eid, *v) for eid, v in entries.items()) and len({r[0] for r in rows}) == len(rows):
        assert fast and full and not asked


def test_rows_agree_examples():
    entries = {1: (10, "a"), 2: (11, "b")}
    # every sealed entry has its row
    assert rows_agree([(1, 10, "a"), (2, 11, "b")], entries, lambda: set())
    # a row of an entry still waiting is fine; one neither sealed nor waiting is not
    assert rows_agree([(1, 10, "a"), (2, 11, "b"), (3, 12, "c")], entries, lambda: {3})
    assert not rows_agree([(1, 10, "a"), (2, 11, "b"), (3, 12, "c")], entries, lambda: set())
    # a value differs; a sealed entry has no row; two rows claim one entry
    assert not rows_agree([(1, 10, "a"), (2, 12, "b")], entries, lambda: set())
    assert not rows_agree([(1, 10, "a")], entries, lambda: set())
    assert not rows_agree([(1, 10, "a"), (2, 11, "b"), (2, 11, "b")], entries, lambda: set())


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(ENTRY_IDS, st.integers(1, 5)), max_size=6),
    entries=st.dictionaries(ENTRY_IDS, st.frozensets(st.integers(1, 5), max_size=3), max_size=5),
    waiting=st.sets(ENTRY_IDS, max_size=4),
)
def test_settlements_agree_never_passes_a_row_or_entry_the_full_check_names(pairs, entries, waiting):
    # given settlement rows (entry id, trade id), the sealed SETTLEMENT entries' trades, the waiting entries,
    # and statuses that agree with the rows
    report = Report()

    # when the fast form judges them
    fast = _settlements_agree(report, (pairs, False), entries, lambda: waiting)

    # then, where it agrees, every row is a named trade of its sealed entry or of a waiting one, and every
    # named trade has its row (what _check_settlements names otherwise)
    if fast:
        for eid, tid in pairs:
            assert (tid in entries[eid]) if eid in entries else (eid in waiting)
        for eid, tids in entries.items():
            assert all((eid, tid) in pairs for tid in tids)
    # and a status that disagrees with the rows is always a doubt
    assert not _settlements_agree(Report(), (pairs, True), entries, lambda: waiting)


def test_settlements_agree_examples():
    entries = {1: frozenset({5, 6}), 2: frozenset({7})}
    # every named trade has its row; a row of an entry still waiting is fine
    assert _settlements_agree(Report(), ([(1, 5), (1, 6), (2, 7), (3, 8)], False), entries, lambda: {3})
    # a named trade without its row; a row of a trade its entry does not name; a row of an entry nowhere
    assert not _settlements_agree(Report(), ([(1, 5), (2, 7)], False), entries, lambda: set())
    assert not _settlements_agree(Report(), ([(1, 5), (1, 6), (2, 7), (2, 9)], False), entries, lambda: set())
    assert not _settlements_agree(Report(), ([(1, 5), (1, 6), (2, 7), (3, 8)], False), entries, lambda: set())
