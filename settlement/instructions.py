"""Standing settlement instructions (缓交收 / 拒绝交收 at sub-second settlement, DESIGN.md §6).

Gross trades settle within a second of their block, too fast for a depository
operator to hold one by hand. So the depository or a regulator sets a standing
instruction: hold, before they settle, the trades of an account (as buyer or
seller), of a security, or worth at least an amount — several criteria combine
with AND — from now until an end the instruction names, or until ended early.

* An instruction moves nothing, but setting it and ending it early are
  supervisory acts (DESIGN.md §6): each writes its ledger entry
  (SETTLEMENT_INSTRUCTION, SETTLEMENT_INSTRUCTION_END: ``settlement.entries``)
  and its audit record (``settlement_instruction_create`` / ``_end``, naming
  the entry) in one transaction with the row, which points at its entries
  (``ledger_verify`` compares them: ``settlement.reconcile``). The entries
  carry ids, codes and roles, never the reason, which stays on the row and the
  audit trail: the ledger's readers are more than the instructions' (the
  exchange operator, replicas), and a regulator's reason must not reach them.
  Each trade it holds gets the usual SETTLEMENT_HOLD entry, naming the
  instruction and carrying its reason, written by ``settlement.services``
  inside the settlement transaction, under the trade's lock (gross) or the
  batch's.
* ``matching_instruction`` is the one subquery settlement adds to the
  statement that locks the trade (or the batch's trades): the active
  instructions are few, and found by a partial index on their end.
* A held trade waits for a depository operator's release or refusal, as a
  trade held by hand. A released trade is never held again by an instruction
  (the operator decided it settles), and an instruction holds a trade at most
  once (a unique constraint), whatever the retries. A settled trade is never
  touched.
* The database refuses an instruction without a criterion, with an amount
  that is not positive, without a reason, that ends before it starts, or that
  is half ended.
* An instruction is ended early by the role that set it, or by a regulator: a
  regulator may end the depository's, the depository may not end a
  regulator's (``instruction_may_end``).
* No tipping-off: the parties of a held trade (in their notifications, on the
  trade's page and in its API, in the hold's ledger entry) are told that a
  standing instruction of the depository or of the regulator holds it, and the
  reason of the depository's only; a regulator's reason is read by those who
  read instructions (``READERS``) alone. One rule says it, ``reason_disclosed``,
  and every place that shows a hold's reason or its entry asks it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.audit import audit_record
from core.models import Account, Role, User
from core.money import CENT
from ledger.services import entry_write
from registry.models import Security

from .entries import InstructionEnd, InstructionSet
from .models import SettlementAction, SettlementInstruction

# Who sets and ends instructions; who reads them.
SETTERS = frozenset({Role.DEPOSITORY_OPERATOR, Role.REGULATOR})
READERS = frozenset({*SETTERS, Role.AUDITOR})

InstructionNoCriterion = err.error_class(
    "InstructionNoCriterion",
    "instruction_no_criterion",
    _("Name an account, a security or a minimum amount (or several)."),
)
InstructionEndNotFuture = err.error_class(
    "InstructionEndNotFuture", "instruction_end_not_future", _("The end must be in the future.")
)
InstructionAmountNotPositive = err.error_class(
    "InstructionAmountNotPositive", "instruction_amount_not_positive", _("The minimum amount must be above zero.")
)
InstructionNotActive = err.error_class(
    "InstructionNotActive", "instruction_not_active", _("The instruction has already ended."), 409
)
InstructionFeeAccount = err.error_class(
    "InstructionFeeAccount",
    "instruction_fee_account",
    _(
        "A fee account is never a party to a trade: an instruction on it would hold nothing. Name the investor's "
        "or the market maker's account."
    ),
)
UnknownAccount = err.UnknownAccount

# How long the monitor keeps showing an instruction after it ended (early or at its end).
RECENTLY_ENDED = dt.timedelta(days=7)

# The largest amount the column holds (20 digits, 2 after the point).
MAX_AMOUNT = Decimal("999999999999999999.99")


def require_setter(actor: User, *, ending: bool = False) -> None:
    if actor.role not in SETTERS:
        # What the refused one tried: to end an instruction is not to set one (found by a probe: an auditor ending
        # one was told only who sets them).
        if ending:
            raise err.PermissionDenied(gettext("Only depository operators and regulators end settlement instructions."))
        raise err.PermissionDenied(gettext("Only depository operators and regulators set settlement instructions."))


def require_reader(actor: User) -> None:
    if actor.role not in READERS:
        raise err.PermissionDenied(
            gettext("Only depository operators, regulators and auditors see settlement instructions.")
        )


def instruction_may_end(actor: User, instruction: SettlementInstruction) -> bool:
    """Whether ``actor`` may end ``instruction``: a regulator ends any; a depository operator only the
    depository's (a regulator's instruction stands until a regulator lifts it)."""
    return actor.role == Role.REGULATOR or (actor.role in SETTERS and actor.role == instruction.set_by_role)


# Who set an instruction, as the parties of the trades it holds are told: an institution, never a person.
SET_BY_DEPOSITORY, SET_BY_REGULATOR = "depository", "regulator"


def instruction_setter(instruction: SettlementInstruction) -> str:
    """``regulator`` for a regulator's instruction, ``depository`` for a depository operator's: by the role its
    setter had when they set it (``set_by_role``), whatever their role is now."""
    return SET_BY_REGULATOR if instruction.set_by_role == Role.REGULATOR else SET_BY_DEPOSITORY


def reason_disclosed(set_by_role: str | None, viewer: User | None = None) -> bool:
    """Whether ``viewer`` may read the reason of a hold, release or refusal, and the ledger entry of a hold: the
    one rule for who reads a regulator's reason in settlement. ``set_by_role``: the role that set the standing
    instruction that made the hold, as recorded (``SettlementInstruction.set_by_role``), or None for an action by
    hand; ``viewer``: None for the trade's parties as such (their notifications, and what the hold's ledger entry
    carries, which more than the instruction's readers read).

    The reason of an action by hand, and of a depository's instruction, is the trade's: whoever sees the trade
    reads it (its parties, their broker's staff, the supervisors), as the depository operator meant when
    writing it. A regulator's is read by those who read instructions (``READERS``: depository operators,
    regulators, auditors) alone. No tipping-off: the parties of a trade held under a regulator's instruction,
    and their broker, learn that a regulator's instruction holds it, never why ("调查中 …" would warn an investor
    under investigation); the exchange operator watches the settlement monitor but does not read instructions,
    so does not read their reasons there either. The hold's entry of a regulator's instruction carries no reason
    (``settlement.services``); the trade's parties still may not read it (before that, it did carry it)."""
    return set_by_role != Role.REGULATOR or (viewer is not None and viewer.role in READERS)


def active(now: dt.datetime) -> Q:
    return Q(ended_at__isnull=True, ends_at__gt=now, created_at__lte=now)


def matching_instruction(now: dt.datetime) -> Subquery:
    """For a trade query: the id of the oldest active instruction the trade matches, or null.

    A trade the depository released is left alone (it settles)."""
    released = SettlementAction.objects.filter(trade=OuterRef(OuterRef("pk")), action=SettlementAction.Action.RELEASE)
    matches = (
        SettlementInstruction.objects.filter(active(now))
        .filter(Q(account__isnull=True) | Q(account=OuterRef("buyer_id")) | Q(account=OuterRef("seller_id")))
        .filter(Q(security__isnull=True) | Q(security=OuterRef("security_id")))
        # price has two decimals and quantity is whole: price × quantity is the trade's value exactly
        .filter(Q(min_amount__isnull=True) | Q(min_amount__lte=OuterRef("price") * OuterRef("quantity")))
        .filter(~Exists(released))
        .order_by("id")
        .values("id")[:1]
    )
    return Subquery(matches)


def instructions_listed() -> QuerySet[SettlementInstruction]:
    """Every instruction, newest first, with the number of trades it held."""
    return (
        SettlementInstruction.objects.select_related("account", "security", "created_by", "ended_by")
        .annotate(held_trades=Count("holds"))
        .order_by("-created_at", "-id")
    )


def instructions_active(now: dt.datetime | None = None) -> QuerySet[SettlementInstruction]:
    return instructions_listed().filter(active(now or timezone.now()))


def instructions_recently_ended(now: dt.datetime | None = None) -> QuerySet[SettlementInstruction]:
    """The instructions that stopped holding within the last ``RECENTLY_ENDED``, ended early or at their end,
    the latest first (``stopped_at``: when), so that they do not vanish from the monitor with no history."""
    now = now or timezone.now()
    since = now - RECENTLY_ENDED
    return (
        instructions_listed()
        .annotate(stopped_at=Coalesce("ended_at", "ends_at"))
        .filter(Q(ended_at__gte=since) | Q(ended_at__isnull=True, ends_at__lte=now, ends_at__gte=since))
        .order_by("-stopped_at", "-id")
    )


# An instruction's status, as the API and the pages give it (``instruction_status``; the API's schema names them).
ACTIVE, ENDED, EXPIRED = "active", "ended", "expired"
STATUSES = (ACTIVE, ENDED, EXPIRED)


def instruction_status(instruction: SettlementInstruction, now: dt.datetime | None = None) -> str:
    """active, ended (early, by someone) or expired (its end passed)."""
    if instruction.ended_at is not None:
        return ENDED
    return ACTIVE if instruction.ends_at > (now or timezone.now()) else EXPIRED


def instruction_create(
    *,
    actor: User,
    account_code: str | None,
    security_code: str | None,
    min_amount: Decimal | None,
    reason: str,
    ends_at: dt.datetime,
    ip: str | None = None,
) -> SettlementInstruction:
    """Set a standing instruction: from now until ``ends_at``, hold the trades it matches before they settle."""
    require_setter(actor)
    reason = err.reason_checked(reason)
    account_code = (account_code or "").strip() or None
    security_code = (security_code or "").strip() or None
    if account_code is None and security_code is None and min_amount is None:
        raise InstructionNoCriterion()
    if min_amount is not None:
        if not isinstance(min_amount, Decimal):
            raise TypeError("min_amount must be a Decimal")
        if not min_amount.is_finite() or min_amount <= 0:
            raise InstructionAmountNotPositive()
        if min_amount > MAX_AMOUNT or min_amount != min_amount.quantize(Decimal("0.01")):
            raise err.InvalidInput(
                gettext("The minimum amount must be in yuan and fen, at most 18 digits."), field="min_amount"
            )
    if ends_at.tzinfo is None:
        raise err.InvalidInput(gettext("The end needs a time zone."), field="ends_at")
    now = timezone.now()
    if ends_at <= now:
        raise InstructionEndNotFuture()
    account = None
    if account_code is not None:
        account = Account.objects.filter(code=Account.typed_code(account_code)).first()
        if account is None:  # named, as a freeze's or a transfer's form names it
            raise UnknownAccount(gettext("No such account: %(codes)s.") % {"codes": Account.typed_code(account_code)})
        # Its fees are credited by settlement, never traded: such an instruction stood as set and held nothing
        # (found by a walk), where a forced transfer or an issuance to a fee account is refused.
        if account.kind == Account.Kind.FEE:
            raise InstructionFeeAccount()
    security = None
    if security_code is not None:
        security = Security.objects.filter(code=security_code).first()
        if security is None:
            raise err.UnknownSecurity()
    if min_amount is not None:
        min_amount = min_amount.quantize(CENT)  # as the column keeps it (1010 is 1010.00)
    account_code = None if account is None else account.code  # as the account has it, not as it was typed
    with transaction.atomic():
        # The entry names the instruction's id, and the row names its entry: take the id first.
        with connection.cursor() as cur:
            cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [SettlementInstruction._meta.db_table])
            (instruction_id,) = cur.fetchone()
        entry = entry_write(
            InstructionSet(
                instruction=instruction_id,
                account=account_code,
                security=security_code,
                min_amount=min_amount,
                until=ends_at,
                set_by_role=actor.role,
                at=now,
            ),
            recorded_at=now,
        )
        instruction = SettlementInstruction.objects.create(
            pk=instruction_id,
            account=account,
            security=security,
            min_amount=min_amount,
            reason=reason,
            created_by=actor,
            set_by_role=actor.role,
            created_at=now,
            ends_at=ends_at,
            entry=entry,
        )
        audit_record(
            actor=actor,
            action="settlement_instruction_create",
            target=f"instruction {instruction.pk}",
            ip=ip,
            detail={
                "account": account_code,
                "security": security_code,
                "min_amount": None if min_amount is None else str(min_amount),
                "ends_at": ends_at.isoformat(),
                "reason": reason,
                "entry": entry.pk,
            },
        )
    return instruction


def instruction_end(*, actor: User, instruction_id: int, reason: str, ip: str | None = None) -> SettlementInstruction:
    """End an instruction early: from now it holds nothing more. The trades it held stay held. Only the role
    that set it, or a regulator, ends it (``instruction_may_end``)."""
    require_setter(actor, ending=True)
    reason = err.reason_checked(reason)
    with transaction.atomic():
        instruction = (
            SettlementInstruction.objects.select_related("created_by")
            .select_for_update(of=("self",))
            .filter(pk=instruction_id)
            .first()
        )
        if instruction is None:
            raise err.NotFound(gettext("No such settlement instruction."))
        if not instruction_may_end(actor, instruction):
            raise err.PermissionDenied(
                gettext("A regulator set settlement instruction %(id)s: only a regulator may end it.")
                % {"id": instruction.pk}
            )
        now = timezone.now()
        if instruction_status(instruction, now) != "active":
            raise InstructionNotActive()
        entry = entry_write(
            InstructionEnd(instruction=instruction.pk, ended_by_role=actor.role, at=now), recorded_at=now
        )
        instruction.ended_at, instruction.ended_by, instruction.end_reason = now, actor, reason
        instruction.ended_by_role, instruction.end_entry = actor.role, entry
        instruction.save(update_fields=["ended_at", "ended_by", "ended_by_role", "end_reason", "end_entry"])
        audit_record(
            actor=actor,
            action="settlement_instruction_end",
            target=f"instruction {instruction.pk}",
            ip=ip,
            detail={"reason": reason, "entry": entry.pk},
        )
    return instruction
