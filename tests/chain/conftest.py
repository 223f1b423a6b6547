"""Chain fixtures: one four-tranche deal deployed per session, state rolled back per test.

Contracts compile once (titanoboa disk cache); each test runs inside
``boa.env.anchor()`` so it starts from the same closed deal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boa
import pytest
from eth_account import Account

from openmbs.chain import DealClient, DealConfig, TrancheConfig, deploy_deal
from openmbs.oracle import Attestation, RemittanceReport, attest

FAR_FUTURE = 2**40

#: Four tranches (faces in 6-decimal units: 1,000,000.000000 in total).
TRANCHES = (
    TrancheConfig("Senior A", "A", 600_000_000_000, 0.04),
    TrancheConfig("Senior B", "B", 200_000_000_000, 0.05),
    TrancheConfig("Mezzanine M", "M", 120_000_000_000, 0.07),
    TrancheConfig("Junior J", "J", 80_000_000_000, 0.10),
)
POOL = 1_000_000_000_000
LOANS = 10
#: Balance 90+ days delinquent at cut-off (10% of the pool): the oracle accepts up to
#: this much of losses and liquidation recoveries in period 1 (later periods: the
#: 60+ balance of the report before).
SERIOUS_AT_CUTOFF = 100_000_000_000


@dataclass
class World:
    d: DealClient
    admin: str
    investors: list[str]
    keys: list[Account]

    def report(
        self,
        *,
        sched: int = 1_000_000_000,
        unsched: int = 2_000_000_000,
        interest: int = 5_000_000_000,
        recoveries: int = 0,
        losses: int = 0,
        period: int | None = None,
        beginning: int | None = None,
        cash: int | None = None,
        loan_count: int | None = None,
        root: bytes = b"\x42" * 32,
    ) -> RemittanceReport:
        oracle = self.d.oracle
        period = int(oracle.last_period()) + 1 if period is None else period
        beginning = int(oracle.last_ending_balance()) if beginning is None else beginning
        ending = max(0, beginning - sched - unsched - recoveries - losses)
        return RemittanceReport(
            period=period,
            scheduled_principal=sched,
            unscheduled_principal=unsched,
            interest=interest,
            recoveries=recoveries,
            losses=losses,
            beginning_balance=beginning,
            ending_balance=ending,
            loan_count=int(oracle.last_loan_count()) if loan_count is None else loan_count,
            delinquent_30=0,
            delinquent_60=0,
            delinquent_90_plus=0,
            index_rate=0,
            cash=interest + sched + unsched + recoveries if cash is None else cash,
            loan_tape_root=root,
        )

    def sign(self, report: RemittanceReport, n: int = 3, **kw: object) -> list[Attestation]:
        """Signatures of the first ``n`` attestors, valid for an hour of chain time
        unless ``deadline`` is given."""
        deadline = kw.get("deadline")
        return attest(
            report,
            [k.key for k in self.keys[:n]],
            chain_id=self.d.chain_id(),
            verifying_contract=str(kw.get("verifying_contract", self.d.oracle.address)),
            deadline=int(boa.env.evm.patch.timestamp) + 3600 if deadline is None else int(deadline),  # type: ignore[call-overload]
        )

    def holder(self, name: str) -> str:
        """A fresh allowlisted account."""
        a = boa.env.generate_address(name)
        self.d.allow([a], FAR_FUTURE)
        return a

    def remit(self, report: RemittanceReport | None = None, n: int = 3) -> RemittanceReport:
        report = report or self.report()
        self.d.remit(report, self.sign(report, n))
        return report


def _build() -> World:
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin = boa.env.generate_address("admin")
    cfg = DealConfig(
        name="four_tranche_test",
        tranches=TRANCHES,
        initial_pool_balance=POOL,
        initial_loan_count=LOANS,
        minimum_subscription=1_000_000,
        initial_delinquent=(0, 0, SERIOUS_AT_CUTOFF),
    )
    d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin, test_waterfall=True)
    investors = [boa.env.generate_address(f"investor{i}") for i in range(4)]
    d.allow([*investors, admin], FAR_FUTURE)
    for i, t in enumerate(TRANCHES):
        d.settlement.mint(investors[i], t.face, sender=admin)
        d.subscribe(investors[i], i, t.face)
    d.close()
    for inv in investors:
        d.settle(inv)
    d.settlement.mint(admin, 10**15, sender=admin)
    return World(d=d, admin=admin, investors=investors, keys=keys)


@pytest.fixture(scope="session")
def world() -> World:
    return _build()


@pytest.fixture(autouse=True)
def _rollback(world: World) -> Iterator[None]:
    with boa.env.anchor():
        yield


