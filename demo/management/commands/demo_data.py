"""Load the demo market: idempotent, and only in demo mode (EXCHANGE_DEMO=1).

Every balance is created through the services, so the ledger holds an ISSUE
or DEPOSIT entry for each of them. It loads under every venue rule profile
(``registry.profile``): what the profile forbids (the market makers' quotes
under ``cn-regional-2017``) is left out, and the output says so; the request
for quote and the negotiated proposal, allowed under every profile, are there
to trade by.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from balances.issuances import issuance_approve, issuance_propose
from balances.services import Holding, account_open, cash_deposit, shanghai_today
from core.models import Account, Broker, Role, User
from demo.onboarding import approved_investor
from demo.totp import DEMO_STAFF, demo_staff_enrol
from exchange.services import QuoteRequest, quote_publish
from exchange.services.negotiated import NegotiatedRequest, negotiated_propose
from exchange.services.rfq import RfqRequestInput, rfq_request
from ledger.published import LedgerHeld
from ledger.services import block_seal
from registry import profile
from registry.disclosures import disclosure_publish
from registry.listing import security_list
from supervision.services import freeze_approve, freeze_propose
from surveillance.rehearsal import crossed_trade_write
from surveillance.services import block_scan, rules_seed

PASSWORD = "demo-pass-2026"

SECURITIES = [
    # code, name, issuer, risk, reference price
    ("830001", "华兴科技 HuaXing Tech", "华兴科技股份有限公司 HuaXing Technology Co., Ltd.", 3, "12.50"),
    ("830002", "江南生物 Jiangnan Bio", "江南生物医药股份有限公司 Jiangnan Biopharma Co., Ltd.", 4, "8.20"),
    ("830003", "东海物流 Donghai Logistics", "东海物流股份有限公司 Donghai Logistics Co., Ltd.", 2, "5.60"),
]


class Command(BaseCommand):
    help = "Create the demo market (users, broker, securities, balances, quotes). Demo mode only."

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            raise CommandError("Demo data is only loaded in demo mode (EXCHANGE_DEMO=1).")
        if User.objects.filter(username="investor1").exists():
            # Data loaded before these existed gets the second operators and the demo authenticators now.
            with transaction.atomic():
                self._second_staff()
            enrolled = self._enrol_staff()
            self.stdout.write("Demo data already loaded; nothing added." if not enrolled else "Demo staff enrolled.")
            return
        with transaction.atomic():
            unquoted = self._load()
            self._enrol_staff()
        if unquoted:
            self.stdout.write(
                f"Market making is not allowed under the venue rule profile {profile.current().name} in "
                f"{', '.join(unquoted)}: no market maker's quotes were published there. Trade them by request for "
                "quote or negotiated transfer (the demo has an open request for quote and a negotiated proposal)."
            )
        # Shown once, as the page shows it to a proposer: without it investor2 could not confirm the proposal.
        self.stdout.write(
            f"investor2 confirms investor1's negotiated proposal (/negotiated/) with the code {self.negotiated_code}."
        )
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))

    def _enrol_staff(self) -> int:
        """The demo staff's authenticators with known secrets (demo.totp); how many were new."""
        new = 0
        for user in User.objects.filter(username__in=DEMO_STAFF).order_by("pk"):
            before = TOTPDevice.objects.filter(user=user, confirmed=True).values_list("pk", flat=True).first()
            new += demo_staff_enrol(user=user).pk != before
        return new

    def _user(self, username: str, role: str, *, broker: Broker | None = None, name: str = "") -> User:
        first, _, last = name.partition(" ")
        user = User(username=username, role=role, broker=broker, first_name=first, last_name=last)
        user.set_password(PASSWORD)
        user.save()
        return user

    def _second_staff(self) -> None:
        """A second exchange operator and depository user, for the maker-checker steps of supervision."""
        if not User.objects.filter(username="operator2").exists():
            self._user("operator2", Role.EXCHANGE_OPERATOR, name="Exchange Operator2")
        if not User.objects.filter(username="depository2").exists():
            self._user("depository2", Role.DEPOSITORY_OPERATOR, name="Depository Operator2")
        if not User.objects.filter(username="regulator2").exists():
            self._user("regulator2", Role.REGULATOR, name="Regulator Officer2")

    def _issue(self, depository: User, code: str, allocations: list, reference: str) -> None:
        """An issuance as the depository makes one: proposed by depository, approved by depository2."""
        proposal = issuance_propose(actor=depository, security_code=code, allocations=allocations, reference=reference)
        issuance_approve(actor=User.objects.get(username="depository2"), issuance_id=proposal.pk)

    def _wash_trade(self, broker: Broker, staff: list[User], investor5: Account, security) -> None:
        """investor6: a second account of investor5's identity, and a trade between the two, sealed and scanned,
        so the regulator finds a wash-trade alert on /surveillance/. Staged with the rehearsal writer (the
        engine never matches two investors); it settles like any other trade."""
        twin = approved_investor(
            username="investor6",
            password=PASSWORD,
            broker=broker,
            maker=staff[0],
            checker=staff[1],
            seq=5,
            real_name="陈静 Chen Jing",
            level=3,
        )
        cash_deposit(actor=staff[0], account=twin, amount=Decimal("50000.00"), reference="demo funding")
        crossed_trade_write(
            security_code=security.code,
            buyer=twin,
            seller=investor5,
            price=security.reference_price,
            quantity=100,
        )
        rules_seed()
        try:
            sealed = block_seal()
        except LedgerHeld as exc:  # a new database beside a checkpoint log of an earlier one: the worker says why
            self.stderr.write(f"The demo's entries are not sealed: {exc}")
            sealed = None
        if sealed is not None:
            block_scan(height=sealed.block.height)

    def _load(self) -> list[str]:
        """Load the demo market; the codes of the securities left without quotes (market making not allowed)."""
        broker = Broker.objects.create(
            code="B001", name="示范证券 Demo Securities", fee_bps=Decimal("2.50"), fee_minimum=Decimal("5.00")
        )
        account_open(kind=Account.Kind.FEE, name="Demo Securities fees", broker=broker)
        staff = [self._user(f"staff{i}", Role.BROKER_STAFF, broker=broker, name=f"Staff {i}") for i in (1, 2)]
        depository = self._user("depository", Role.DEPOSITORY_OPERATOR, name="Depository Operator")
        operator = self._user("operator", Role.EXCHANGE_OPERATOR, name="Exchange Operator")
        regulator = self._user("regulator", Role.REGULATOR, name="Regulator Officer")
        self._second_staff()
        self._user("auditor", Role.AUDITOR, name="Audit Reviewer")

        # Listed by the operator through the listing service: each a LISTING entry.
        securities = [
            security_list(
                actor=operator,
                code=code,
                data={"name": name, "issuer": issuer, "risk_rating": risk, "reference_price": ref},
            )
            for code, name, issuer, risk, ref in SECURITIES
        ]
        makers = []
        for i in (1, 2):
            user = self._user(f"mm{i}", Role.MARKET_MAKER, name=f"Market Maker {i}")
            account = account_open(kind=Account.Kind.MARKET_MAKER, name=f"做市商{i} Market Maker {i}", owner=user)
            cash_deposit(actor=depository, account=account, amount=Decimal("5000000.00"), reference="demo funding")
            makers.append((user, account))
        investors = []
        names = ["张伟 Zhang Wei", "王芳 Wang Fang", "李娜 Li Na", "刘洋 Liu Yang", "陈静 Chen Jing"]
        for i in range(1, 6):
            # Opened at the counter by staff1 and approved by staff2, through the real KYC services.
            account = approved_investor(
                username=f"investor{i}",
                password=PASSWORD,
                broker=broker,
                maker=staff[0],
                checker=staff[1],
                seq=i,
                real_name=names[i - 1],
                level=5 if i != 5 else 3,
                # investor2 too: the negotiated proposal below is to it, and under cn-regional-2017 only a
                # qualified investor may buy (the proposal would be refused otherwise).
                qualified=i in (1, 2),
            )
            cash_deposit(actor=staff[0], account=account, amount=Decimal("200000.00"), reference="demo funding")
            investors.append(account)
        for n, security in enumerate(securities):
            allocations = [(acct, 500_000) for _, acct in makers]
            allocations += [(acct, 2_000) for k, acct in enumerate(investors) if (k + n) % 2 == 0]
            self._issue(depository, security.code, allocations, "demo")
        # One disclosure document per security (plain text, so that a new user can open and check it).
        for security in securities:
            text = (
                f"{security.name}\n{security.issuer}\n\n"
                "招股说明书（示范） Prospectus (demo)\n"
                f"Risk rating R{security.risk_rating}; reference price CNY {security.reference_price}.\n"
            )
            disclosure_publish(
                actor=depository,
                code=security.code,
                kind="prospectus",
                title=f"{security.code} 招股说明书 Prospectus",
                filename=f"{security.code}-prospectus.txt",
                content=text.encode(),
            )
        # An active judicial freeze of 500 shares of investor3, proposed by regulator, approved by regulator2.
        freeze = freeze_propose(
            actor=regulator,
            account=investors[2].code,
            security=securities[0].code,
            quantity=500,
            legal_reference="上海金融法院 (2026)沪74执保123号 Shanghai Financial Court preservation order",
            reason="财产保全 Asset preservation (demo)",
        )
        freeze_approve(actor=User.objects.get(username="regulator2"), freeze_id=freeze.pk)
        self._wash_trade(broker, staff, investors[4], securities[0])
        # An open request for quote by investor1, and a negotiated proposal from investor1 awaiting investor2
        # (its code is shown once, in this command's output, for investor2 to confirm it with; it waits a week
        # instead of 30 minutes).
        rfq_request(
            requested_by=investors[0].owner,
            account=investors[0],
            request=RfqRequestInput(securities[1].code, "buy", 100, "demo-rfq-1"),
            ttl=86400,
        )
        _proposal, self.negotiated_code, _created = negotiated_propose(
            actor=investors[0].owner,
            account=investors[0],
            request=NegotiatedRequest(
                securities[0].code, "sell", 100, securities[0].reference_price, investors[1].code, "demo-negotiated-1"
            ),
            ttl=7 * 24 * 3600,
        )
        # A placement to investor1 locked up until three days from now: released in the demo week.
        self._issue(
            depository,
            securities[0].code,
            [Holding(investors[0], 1_000, 1_000, shanghai_today() + timedelta(days=3))],
            "demo placement with lock-up",
        )
        # Quotes only where the venue's profile and the security allow market making (quote_publish refuses
        # elsewhere: found by a tester, `VENUE_PROFILE=cn-regional-2017 make run` stopped here).
        quoted = [s for s in securities if profile.mode_allowed(s, profile.MARKET_MAKING)]
        for spread, (user, _account) in zip((Decimal("0.05"), Decimal("0.10")), makers, strict=True):
            for security in quoted:
                ref = security.reference_price
                quote_publish(
                    user=user,
                    request=QuoteRequest(
                        security=security.code,
                        bid_price=ref - spread,
                        bid_quantity=10_000,
                        ask_price=ref + spread,
                        ask_quantity=10_000,
                    ),
                )
        return [s.code for s in securities if s not in quoted]
