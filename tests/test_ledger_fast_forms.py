"""The fast forms of the business checks (``BusinessCheck.rows_of`` / ``agrees`` / ``tally``, run chunk by chunk
by ``ledger.fast_verification``) against their full forms: a fast form may doubt where the full check finds
nothing, never the other way round."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import fast_verification
from ledger.fast_verification import _Doubt, _id_runs, _Reading
from ledger.hooks import BusinessCheck
from ledger.verification import Report, rows_against_entries, rows_agree
from settlement.reconcile import Settles, _as_settles, _gross, _settlements_agree, differs

D = Decimal
ENTRY_IDS = st.integers(min_value=1, max_value=8)
VALUES = st.tuples(st.integers(min_value=0, max_value=2), st.sampled_from(["a", "b"]))
CHUNK_OF = st.dictionaries(ENTRY_IDS, st.integers(0, 2))  # which chunk each sealed entry is read in
GAPS = st.sampled_from([0, 1, 2, 256])  # how far apart two entry ids of a chunk may be and be read in one range


def _chunked(agrees, rows, entries, waiting, chunk_of, gap=256) -> bool:
    """The fast pass's verdict: ``entries`` read chunk by chunk (``_Reading.chunk_done`` after each), each
    chunk's rows fetched by ranges of entry ids, and the rows agreed in chunks counted against every row not
    waiting."""
    check = BusinessCheck(
        name="rows",
        kinds=frozenset({"K"}),
        extract=lambda kind, payload: payload,
        check=lambda report, entries, waiting: None,
        rows_of=lambda lo, hi: [row for row in rows if lo <= row[0] <= hi],
        agrees=agrees,
        tally=lambda report: len(rows) - sum(1 for row in rows if row[0] in waiting),
    )
    reading = _Reading([check])
    by_chunk: dict[int, dict] = {}
    for eid, value in entries.items():
        by_chunk.setdefault(chunk_of.get(eid, 0), {})[eid] = value
    was, fast_verification.RUN_GAP = fast_verification.RUN_GAP, gap
    try:
        for chunk in sorted(by_chunk):
            reading.collected["rows"].update(by_chunk[chunk])
            reading.chunk_done()
    except _Doubt:
        return False
    finally:
        fast_verification.RUN_GAP = was
    return reading.matched == {"rows": check.tally(Report())}


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
    chunk_of=CHUNK_OF,
    gap=GAPS,
)
def test_rows_agree_never_passes_what_the_full_check_names(rows, entries, waiting, chunk_of, gap):
    # given rows (entry id, values), the sealed entries' values read in some chunks, and the waiting entries
    # (never sealed too: the fast pass has checked that before)
    waiting = waiting - entries.keys()

    # when both forms judge them
    fast = _chunked(rows_agree, rows, entries, waiting, chunk_of, gap)
    full = _full(rows, {k: tuple(v) for k, v in entries.items()}, waiting)

    # then the fast form agrees only where the full check finds nothing
    assert not fast or full
    # and where every row is one of the sealed entries or a waiting one's, once, both pass
    sealed_rows = [row for row in rows if row[0] not in waiting]
    if sorted(sealed_rows) == sorted((eid, *v) for eid, v in entries.items()) and len(
        {r[0] for r in sealed_rows}
    ) == len(sealed_rows):
        assert fast and full


def test_rows_agree_examples():
    entries = {1: (10, "a"), 2: (11, "b")}
    # every sealed entry of the chunk has its row: their number
    assert rows_agree([(1, 10, "a"), (2, 11, "b")], entries) == 2
    # a value differs; a sealed entry has no row; two rows claim one entry
    assert rows_agree([(1, 10, "a"), (2, 12, "b")], entries) is None
    assert rows_agree([(1, 10, "a")], entries) is None
    assert rows_agree([(1, 10, "a"), (2, 11, "b"), (2, 11, "b")], entries) is None
    # over chunks: a row of an entry still waiting is fine; one of an entry neither sealed nor waiting is not
    rows = [(1, 10, "a"), (2, 11, "b"), (3, 12, "c")]
    assert _chunked(rows_agree, rows, entries, {3}, {1: 0, 2: 1})
    assert not _chunked(rows_agree, rows, entries, set(), {1: 0, 2: 1})


def _listed(trade: tuple) -> tuple:
    """A trade row (as ``_trade``) with the fees as a gross entry lists them, as ``_settlement_query`` ends it:
    how many, then each one's account and amount (the buyer's first; ``None`` for one not listed)."""
    buyer_fee, seller_fee, buyer_to, seller_to = trade[6], trade[7], trade[10], trade[11]
    paid = [(to, fee) for to, fee in ((buyer_to, buyer_fee), (seller_to, seller_fee)) if fee != "0.00"]
    flat = [value for fee in paid for value in fee]
    return (*trade, len(paid), *flat, *[None] * (4 - len(flat)))


def _trade(tid: int) -> tuple:
    """A trade row as the settlement check reads it: 1 share of S at 1.00 from S<tid> to B<tid>, no fees (the
    buyer pays 1.00, the seller receives 1.00), neither party's broker with a fee account."""
    return _listed((tid, "S", "1.00", 1, f"B{tid}", f"S{tid}", "0.00", "0.00", "1.00", "1.00", None, None))


def _net(tids) -> Settles:
    """A net SETTLEMENT entry of the trades ``tids`` (``_trade``), saying what they moved."""
    shares = frozenset((a, q) for t in tids for a, q in ((f"B{t}", 1), (f"S{t}", -1)))
    cash = {a: D(-q) for a, q in shares}  # the buyer pays 1.00, the seller receives it
    return Settles(frozenset(tids), "net", ("S", shares, cash))


def _rows(pairs) -> list[tuple]:
    return [(eid, *_trade(tid)) for eid, tid in pairs]


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(ENTRY_IDS, st.integers(1, 5)), max_size=6),
    entries=st.dictionaries(ENTRY_IDS, st.frozensets(st.integers(1, 5), max_size=3), max_size=5),
    waiting=st.sets(ENTRY_IDS, max_size=4),
    chunk_of=CHUNK_OF,
    gap=GAPS,
)
def test_settlements_agree_never_passes_a_row_or_entry_the_full_check_names(pairs, entries, waiting, chunk_of, gap):
    # given settlement rows (entry id, trade id), the sealed SETTLEMENT entries' trades read in some chunks, the
    # waiting entries, and statuses that agree with the rows (the tally doubts them otherwise)
    waiting = waiting - entries.keys()

    # when the fast form judges them
    fast = _chunked(_settlements_agree, _rows(pairs), {e: _net(t) for e, t in entries.items()}, waiting, chunk_of, gap)

    # then, where it agrees, every row is a named trade of its sealed entry or of a waiting one, and every
    # named trade has its row (what _check_settlements names otherwise)
    if fast:
        for eid, tid in pairs:
            assert (tid in entries[eid]) if eid in entries else (eid in waiting)
        for eid, tids in entries.items():
            assert all((eid, tid) in pairs for tid in tids)


def test_settlements_agree_examples():
    entries = {1: _net({5, 6}), 2: _net({7})}
    # every named trade of the chunk has its row: their number
    assert _settlements_agree(_rows([(1, 5), (1, 6), (2, 7)]), entries) == 3
    # a named trade without its row; a row of a trade its entry does not name; the same row twice
    assert _settlements_agree(_rows([(1, 5), (2, 7)]), entries) is None
    assert _settlements_agree(_rows([(1, 5), (1, 6), (2, 7), (2, 9)]), entries) is None
    assert _settlements_agree(_rows([(1, 5), (1, 6), (1, 6), (2, 7)]), entries) is None
    # over chunks: a row of an entry still waiting is fine; one of an entry nowhere is not
    rows = _rows([(1, 5), (1, 6), (2, 7), (3, 8)])
    assert _chunked(_settlements_agree, rows, entries, {3}, {1: 0, 2: 1})
    assert not _chunked(_settlements_agree, rows, entries, set(), {1: 0, 2: 1})


def test_settlements_agree_only_where_each_entry_says_what_its_trades_moved():
    # given a gross entry of trade 5 (100 shares at 10.00, fees 5.00 and 6.00) and a net entry of trades 6 and 7
    gross = ("S", 100, "10.00", "B", "A", "1005.00", "994.00", (("FB", "5.00"), ("FA", "6.00")))
    trade5 = _listed((5, "S", "10.00", 100, "B", "A", "5.00", "6.00", "1005.00", "994.00", "FB", "FA"))
    entries = {1: Settles(frozenset({5}), "gross", gross), 2: _net({6, 7})}
    rows = [(1, *trade5), *_rows([(2, 6), (2, 7)])]
    assert _settlements_agree(rows, entries) == 3
    # when the gross entry says another quantity, price, party, amount, fee or fee account, or cannot be read, it
    # is a doubt
    swapped = (("FA", "5.00"), ("FB", "6.00"))
    for i, other in enumerate([None, 900, "10.01", "X", "X", "1005.01", "994.01", (("FB", "5.00"), ("FA", "6.01"))]):
        if i == 0:
            continue
        said = Settles(frozenset({5}), "gross", gross[:i] + (other,) + gross[i + 1 :])
        assert _settlements_agree(rows, {**entries, 1: said}) is None, i
    assert _settlements_agree(rows, {**entries, 1: Settles(frozenset({5}), "gross", gross[:-1] + (swapped,))}) is None
    assert _settlements_agree(rows, {**entries, 1: Settles(frozenset({5}), "gross", None)}) is None
    # a side that paid no fee has none in the list; one listed anyway is a doubt
    no_seller_fee = _listed((5, "S", "10.00", 100, "B", "A", "5.00", "0.00", "1005.00", "1000.00", "FB", "FA"))
    said = ("S", 100, "10.00", "B", "A", "1005.00", "1000.00", (("FB", "5.00"),))
    assert _settlements_agree([(1, *no_seller_fee), *rows[1:]], {**entries, 1: Settles(frozenset({5}), "gross", said)})
    listed = Settles(frozenset({5}), "gross", said[:-1] + ((("FB", "5.00"), ("FA", "0.00")),))
    assert _settlements_agree([(1, *no_seller_fee), *rows[1:]], {**entries, 1: listed}) is None
    # and so is a net entry whose shares, cash or fees are not its trades' nets
    net = _net({6, 7})
    security, shares, cash = net.says
    for says in [
        ("T", shares, cash),
        (security, shares - {("B6", 1)} | {("B6", 2)}, cash),
        (security, shares, {**cash, "B6": D(-2)}),
        (security, shares, {**cash, "FEE": D("0.01")}),
    ]:
        assert _settlements_agree(rows, {**entries, 2: Settles(net.trade_ids, "net", says)}) is None, says


def test_a_net_entry_agrees_only_where_each_fee_account_received_what_its_brokers_clients_paid():
    # given a net entry of two trades: B buys 100 at 10.00 paying its broker (fee account FB) 5.00, A sells them
    # paying its broker (FA) 6.00; then A buys 100 back at 10.00, paying FA 5.00 and B FB 6.00
    rows = [
        (1, *_listed((5, "S", "10.00", 100, "B", "A", "5.00", "6.00", "1005.00", "994.00", "FB", "FA"))),
        (1, *_listed((6, "S", "10.00", 100, "A", "B", "5.00", "6.00", "1005.00", "994.00", "FA", "FB"))),
    ]
    shares = frozenset()  # both net to nothing
    fees = {"FB": D("11.00"), "FA": D("11.00")}
    entry = Settles(frozenset({5, 6}), "net", ("S", shares, {"B": D("-11.00"), "A": D("-11.00"), **fees}))
    assert _settlements_agree(rows, {1: entry}) == 2
    # when the same fees in all are said to have gone 1.00 more to one fee account and 1.00 less to the other, to
    # a third one, or to one alone, then it is a doubt
    for said in [
        {"FB": D("12.00"), "FA": D("10.00")},
        {"FB": D("11.00"), "FA": D("10.00"), "FC": D("1.00")},
        {"FB": D("22.00")},
    ]:
        moved = Settles(entry.trade_ids, "net", ("S", shares, {"B": D("-11.00"), "A": D("-11.00"), **said}))
        assert _settlements_agree(rows, {1: moved}) is None, said
    # and so is a fee whose payer's broker has no fee account (settlement refuses it: no entry can say it)
    unpaid = [(rows[0][0], *_listed((*rows[0][1:11], None, "FA"))), rows[1]]
    assert _settlements_agree(unpaid, {1: entry}) is None


def test_a_chunks_entry_ids_are_read_in_ranges_split_at_wide_gaps():
    # given a chunk's entry ids, nearly consecutive but for one sealed far from the others
    ids = {7, 3, 4, 6, 1000, 5}
    # when they are cut into ranges, then the near ones share one range and the far one has its own
    assert _id_runs(ids) == [(3, 7), (1000, 1000)]
    assert _id_runs({9}) == [(9, 9)]
    # and a row of an entry inside a range but of another chunk is not this chunk's: it is picked out
    rows = [(1, 10, "a"), (2, 99, "z"), (3, 11, "b")]
    assert _chunked(rows_agree, rows, {1: (10, "a"), 3: (11, "b")}, {2}, {})


def test_processes_sharing_a_counter_claim_every_chunk_once_however_unevenly_they_go():
    import multiprocessing

    from ledger.fast_verification import _claimed, _plan

    # given the plan of a ledger of ten big chunks and a half, and two readers of one shared counter
    plan = _plan((1 << 14) * 10 + (1 << 13), 2)
    counter = multiprocessing.get_context("fork").Value("q", 0)
    fast, slow = _claimed(counter, plan), _claimed(counter, plan)

    # when one claims three chunks for each the other claims, until neither gets any more
    claimed = {"fast": [], "slow": []}
    while True:
        got = [("fast", part) for part in itertools.islice(fast, 3)] + [("slow", p) for p in itertools.islice(slow, 1)]
        if not got:
            break
        for who, part in got:
            claimed[who].append(part)

    # then every chunk of the plan was claimed once, the small last ones too, and the faster did more
    assert sorted(claimed["fast"] + claimed["slow"]) == plan
    assert len(claimed["fast"]) > len(claimed["slow"]) > 0
    # and nothing is claimed once the counter is past the end
    assert list(_claimed(counter, plan)) == []


@settings(max_examples=300, deadline=None)
@given(total=st.integers(min_value=0, max_value=3_000_000), processes=st.integers(min_value=1, max_value=16))
def test_a_pass_plans_aligned_perfect_chunks_big_first_and_small_at_the_end(total, processes):
    from ledger.fast_verification import MAX_LEVEL, MIN_LEVEL, _plan

    # given a ledger of ``total`` leaves and ``processes`` readers; when a pass plans its chunks
    plan = _plan(total, processes)

    # then they cover [0, total) once, in order, each a perfect subtree (aligned, 2^level leaves, only the very
    # last cut short by the end), levels within the bounds and never growing
    assert [lo for lo, _, _ in plan] == [0, *(hi for _, hi, _ in plan[:-1])][: len(plan)]
    assert (plan[-1][1] if plan else 0) == total
    for n, (lo, hi, level) in enumerate(plan):
        assert MIN_LEVEL <= level <= MAX_LEVEL and lo % (1 << level) == 0
        assert hi - lo == 1 << level or (n == len(plan) - 1 and 0 < hi - lo < 1 << level)
    assert [level for _, _, level in plan] == sorted((level for _, _, level in plan), reverse=True)
    # and a chunk above the least is at most a (2 × processes)-th of what was left when it starts
    assert all(level == MIN_LEVEL or (2 * processes) << level <= total - lo for lo, _, level in plan)


def test_a_pass_over_a_million_leaves_runs_few_big_chunks_and_a_short_ledger_several_a_process():
    from ledger.fast_verification import _plan

    # given two readers; when a million leaves and 20,000 are planned
    big, short = _plan(1_000_000, 2), _plan(20_000, 2)
    # then the million is mostly chunks of 2^14 leaves (fewer than a hundred queries of each kind)
    assert len(big) < 100 and sum(hi - lo for lo, hi, level in big if level == 14) > 900_000
    # and the 20,000 start with a chunk of 2^12, ending in chunks of 2^10
    assert short[0] == (0, 4096, 12) and short[-1][2] == 10 and len(short) >= 8


@given(st.sets(st.integers(min_value=1, max_value=5000), min_size=1, max_size=80))
@settings(max_examples=300, deadline=None)
def test_id_ranges_split_exactly_at_the_wide_gaps(ids):
    # given any set of entry ids; when they are cut into ranges
    runs = _id_runs(ids)
    # then the ranges are the maximal runs of ids no more than RUN_GAP apart, in order (the shortcut for ids
    # whose gaps add up to less than RUN_GAP gives the same ranges as the walk)
    ordered, expected = sorted(ids), []
    for n, value in enumerate(ordered):
        if n and value - ordered[n - 1] <= fast_verification.RUN_GAP:
            expected[-1][1] = value
        else:
            expected.append([value, value])
    assert runs == [tuple(run) for run in expected]


def test_a_copy_stream_is_read_whole_and_any_cut_or_misframed_one_is_a_doubt():
    import struct

    from ledger.fast_verification import _copy_columns

    class Cursor:  # what copy_binary reads: cursor.cursor.copy_expert(query, buffer)
        def __init__(self, data: bytes) -> None:
            self.cursor, self.data = self, data

        def copy_expert(self, query, buffer) -> None:
            buffer.write(self.data)

    def row(*values) -> bytes:
        out = struct.pack(">h", len(values))
        for value in values:
            out += struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value
        return out

    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    stream = header + row(b"ab", None) + row(b"", b"xyz") + struct.pack(">h", -1)

    # given a whole binary COPY stream of two rows of two values, then each column comes back, NULL as empty
    assert _copy_columns(Cursor(stream), "COPY …", 2) == [[b"ab", b""], [b"", b"xyz"]]
    # when it is cut anywhere, or a row claims a value longer than what follows, or has another field count,
    # then it is a doubt (never an exception of another kind, never a short answer)
    for cut in range(len(stream)):
        with pytest.raises(_Doubt):
            _copy_columns(Cursor(stream[:cut]), "COPY …", 2)
    with pytest.raises(_Doubt):
        _copy_columns(Cursor(header + row(b"ab", b"c")[:-1] + struct.pack(">h", -1)), "COPY …", 2)
    with pytest.raises(_Doubt):
        _copy_columns(Cursor(stream), "COPY …", 3)


def test_a_business_check_with_only_part_of_its_fast_form_is_refused():
    # given a check that can fetch rows but neither compare nor count them
    # when it is declared, then it is refused rather than quietly run in its full form
    try:
        BusinessCheck(
            name="half",
            kinds=frozenset({"K"}),
            extract=lambda kind, payload: payload,
            check=lambda report, entries, waiting: None,
            rows_of=lambda lo, hi: [],
        )
    except ValueError as exc:
        assert "rows_of, agrees and tally go together" in str(exc)
    else:
        raise AssertionError("a check with rows_of alone was accepted")


def _one_of_each(draw_from: dict) -> st.SearchStrategy:
    return st.fixed_dictionaries({k: st.sampled_from(v) for k, v in draw_from.items()})


_FEE = st.one_of(
    _one_of_each({"account": ["FB", "FA", None], "amount": ["5.00", "6.00", "0.00"]}),
    _one_of_each({"account": ["FB"]}),  # a fee without its amount
    st.just("FB"),  # not an object at all
)
_GROSS_PAYLOAD = st.builds(
    lambda fields, fees, dropped: {k: v for k, v in {**fields, "fees": fees, "mode": "gross"}.items() if k != dropped},
    _one_of_each(
        {
            "trade_id": [5, 6, "5"],
            "security": ["S", "T"],
            "price": ["10.00", "10.01"],
            "quantity": [100, 200, "100"],
            "buyer": ["B", "A"],
            "seller": ["A", "B"],
            "buyer_pays": ["1005.00", "1000.00"],
            "seller_receives": ["994.00", "1000.00"],
        }
    ),
    st.one_of(st.lists(_FEE, max_size=3), st.just("none")),
    st.sampled_from([None, None, None, "security", "fees", "buyer_pays"]),
)
_TRADE_ROW = st.builds(
    lambda values: _listed(tuple(values)),
    st.tuples(
        st.sampled_from([5, 6]),
        st.sampled_from(["S", "T"]),
        st.sampled_from(["10.00", "10.01"]),
        st.sampled_from([100, 200]),
        st.sampled_from(["B", "A"]),
        st.sampled_from(["A", "B"]),
        st.sampled_from(["5.00", "0.00", "6.00"]),
        st.sampled_from(["6.00", "0.00", "5.00"]),
        st.sampled_from(["1005.00", "1000.00"]),
        st.sampled_from(["994.00", "1000.00"]),
        st.sampled_from(["FB", None]),
        st.sampled_from(["FA", None]),
    ),
)


def _entry_by_entry(rows: list[tuple], payload: dict) -> bool | None:
    """The verdict on one gross entry read as ``Settles`` and its rows judged one by one (``None``: its trade's
    id cannot be read, so the reading doubts it before any check)."""
    from settlement.reconcile import _says, _trade_ids

    try:
        ids = _trade_ids(payload)
    except (KeyError, TypeError, ValueError):
        return None
    try:
        says = _says(payload)
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
        says = None
    pairs = {(row[0], row[1]) for row in rows}
    if len(pairs) != len(rows) or pairs != {(1, tid) for tid in ids}:
        return False
    return differs(Settles(ids, "gross", says), [row[1:] for row in rows]) is None


@settings(max_examples=1500, deadline=None)
@given(payload=_GROSS_PAYLOAD, trades=st.lists(_TRADE_ROW, max_size=2))
def test_a_gross_entry_read_whole_agrees_exactly_where_one_read_field_by_field_does(payload, trades):
    # given a gross SETTLEMENT payload (now and then one our settlement would not write) and its settlement rows
    rows = [(1, *trade) for trade in trades]
    expected = _entry_by_entry(rows, payload)
    if expected is None:
        return

    # when the fast form reads it (a plain tuple where it can) and compares the rows with it
    fast = _settlements_agree(rows, {1: fast_verification_read(payload)})

    # then it agrees exactly where the entry read as Settles and judged field by field does
    assert (fast is not None) == expected


def fast_verification_read(payload: dict):
    from settlement.reconcile import _settles

    return _settles("SETTLEMENT", payload)


def test_a_gross_entry_as_settlement_writes_it_is_compared_whole_with_its_row(monkeypatch):
    # given a gross entry as settlement writes it (both sides paid a fee) and its trade's settlement row
    from settlement import reconcile

    payload = {
        "buyer": "B",
        "buyer_pays": "1005.00",
        "fees": [{"account": "FB", "amount": "5.00"}, {"account": "FA", "amount": "6.00"}],
        "mode": "gross",
        "price": "10.00",
        "quantity": 100,
        "security": "S",
        "seller": "A",
        "seller_receives": "994.00",
        "settled_at": "2026-12-06T16:33:35.359188Z",
        "trade_id": 5,
    }
    row = (1, *_listed((5, "S", "10.00", 100, "B", "A", "5.00", "6.00", "1005.00", "994.00", "FB", "FA")))
    said = reconcile._settles("SETTLEMENT", payload)
    assert type(said) is tuple and said == _gross(payload)
    assert _as_settles(said) == Settles(
        frozenset({5}), "gross", ("S", 100, "10.00", "B", "A", "1005.00", "994.00", (("FB", "5.00"), ("FA", "6.00")))
    )

    # when the fast form compares them, the field-by-field comparison made to fail
    monkeypatch.setattr(reconcile, "differs", lambda settles, trades: "never asked")

    # then they agree, whole; and a row that differs in any field the entry says is a doubt
    assert _settlements_agree([row], {1: said}) == 1
    for i in range(2, len(row)):
        if i in (7, 8, 11, 12):  # the fees and fee accounts as the row holds them: the listed ones say them
            continue
        changed = (*row[:i], "X", *row[i + 1 :])
        monkeypatch.setattr(reconcile, "differs", lambda settles, trades: "differs")
        assert _settlements_agree([changed], {1: said}) is None, i
