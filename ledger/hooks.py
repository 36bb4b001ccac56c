"""What the apps above the ledger ask of it, registered from above.

The ledger is the lowest layer but one: it must not import the apps whose
entries it records. Three things still depend on them, so those apps register
them here from their ``AppConfig.ready``:

* ``after_seal``: what to do once a block is sealed. ``ledger.tasks.seal``
  calls each with the new block's height after the sealing transaction
  committed; those registered with ``last=True`` (settlement, which settles
  the block's trades there and then) after the others and after the task has
  queued the next seal and the co-signing, so that long work neither delays
  them nor, if the worker dies in the middle of it, takes them with it (a
  redelivered seal finds nothing to seal and runs no hook).
* ``in_seal``: what to record with a block, in the sealing transaction itself (``block_seal`` calls each with
  the new block's height before it commits): notifications' outbox row for the block's fills, which a seal task
  killed between its commit and its ``after_seal`` hooks would otherwise lose.
* ``entry_readers``: who may read an entry's bytes besides the supervisors
  (the parties of a trade read its TRADE entry, its gross SETTLEMENT entry and
  its holds). Each answers ``(user, entry_id) → bool``.
* ``business_checks``: how ``ledger_verify`` compares the business rows with
  their entries (trades with TRADE entries, balances with the cash and share
  flows). Each names the entry kinds whose payloads it needs from the chain
  walk and returns the problems it finds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .verification import Report


@dataclass(frozen=True)
class BusinessCheck:
    """``extract(kind, payload)`` keeps what ``check`` needs of each entry of ``kinds`` (read once, during the
    chain walk); ``check`` gets the report to add its problems and counts to, ``{entry_id: extract(…)}``, and a
    function returning the ids of the entries still waiting to be sealed."""

    name: str
    kinds: frozenset[str]
    extract: Callable[[str, dict], Any]
    check: Callable[[Report, Mapping[int, Any], Callable[[], set[int]]], None]
    # Its fast form, optional, for ``ledger.fast_verification``, run chunk by chunk where the chain is read, so
    # that nothing is kept of a chunk once it is checked:
    # * ``rows_of(lo, hi)``: the rows of the entries with ids in [lo, hi], each ``(entry id, *values)`` (a range,
    #   which an index reads in one pass: the rows of the chunk's entries are picked out of it);
    # * ``agrees(rows, entries)``: how many rows there are when they agree with ``entries`` (``{entry id:
    #   extract}``, every entry of the chunk of this check's kinds: each must have its rows), ``None`` if not;
    # * ``tally(report)``: how many rows the chunks must account for between them (every row but those of
    #   entries still waiting), adding the check's counts to the report if it keeps any; ``None`` at a doubt
    #   of its own.
    # All three or none (refused otherwise).
    # It may doubt where ``check`` would find nothing (a doubt costs the full walk, which runs ``check``), never
    # the other way round.
    rows_of: Callable[[int, int], list[tuple]] | None = None
    agrees: Callable[[list[tuple], Mapping[int, Any]], int | None] | None = None
    tally: Callable[[Report], int | None] | None = None

    def __post_init__(self) -> None:
        given = [f is not None for f in (self.rows_of, self.agrees, self.tally)]
        if any(given) and not all(given):
            raise ValueError(f"business check {self.name!r}: rows_of, agrees and tally go together")

    @property
    def chunked(self) -> bool:
        return self.rows_of is not None  # and so are the other two (__post_init__)


after_seal: list[Callable[[int], None]] = []
after_seal_last: list[Callable[[int], None]] = []
in_seal: list[Callable[[int], None]] = []
entry_readers: list[Callable[[Any, int], bool]] = []
business_checks: list[BusinessCheck] = []


def register_after_seal(fn: Callable[[int], None], *, last: bool = False) -> None:
    where = after_seal_last if last else after_seal
    if fn not in where:
        where.append(fn)


def register_in_seal(fn: Callable[[int], None]) -> None:
    if fn not in in_seal:
        in_seal.append(fn)


def register_entry_reader(fn: Callable[[Any, int], bool]) -> None:
    if fn not in entry_readers:
        entry_readers.append(fn)


def register_business_check(check: BusinessCheck) -> None:
    if all(c.name != check.name for c in business_checks):
        business_checks.append(check)


# ``after_final``: with ``SETTLEMENT_AWAITS_COSIGNATURE``, what to do once a block is covered by a checkpoint
# enough witnesses co-signed (``ledger.witnessing``); called with each such block's height, in order.
after_final: list[Callable[[int], None]] = []
# ``after_witness_refusal``: a witness refused a checkpoint the exchange signed: ``(witness name, block
# height, HTTP status, split view?)``. Surveillance raises an alert for the regulator.
after_witness_refusal: list[Callable[[str, int, int, bool], None]] = []


def register_after_final(fn: Callable[[int], None]) -> None:
    if fn not in after_final:
        after_final.append(fn)


def register_after_witness_refusal(fn: Callable[[str, int, int, bool], None]) -> None:
    if fn not in after_witness_refusal:
        after_witness_refusal.append(fn)


# ``when_held``: the sealer found this database's ledger behind or beside what the exchange already published
# (``ledger.published``: an older backup restored); called with the reason, by the seal task, each time it is
# refused. The registry halts the market: trading on would match against balances the published ledger
# contradicts.
when_held: list[Callable[[str], None]] = []


def register_when_held(fn: Callable[[str], None]) -> None:
    if fn not in when_held:
        when_held.append(fn)
