"""Chain fixtures: one four-tranche deal deployed per session, state rolled back per test.

The deal runs the REAL waterfall (``ExactWaterfall``, compiled from a deal spec by
:func:`exact_config`); ``World.remit`` runs the exact Python engine alongside, so a
test's expected figures come from ``apply_period`` (``world.state``, ``world.results``),
never from copied numbers. Contracts compile once (titanoboa disk cache); each test
runs inside ``boa.env.anchor()`` so it starts from the same closed deal, and the
engine's state is reset with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boa
import pytest
from boa.contracts.vyper.vyper_contract import VyperContract as _VyperContract
from eth_account import Account

from openmbs.chain import (
    DealClient,
    DealConfig,
    ServicingConfig,
    TrancheConfig,
    config_from_exact,
    deploy_deal,
)
from openmbs.oracle import Attestation, RemittanceReport, attest
from openmbs.structuring import (
    ExactPeriodResult,
    ExactState,
    compile_exact,
    exact_remittance,
    parse_deal,
)
from openmbs.structuring._exact import apply_period, initial_state

# titanoboa prints a contract's storage in its repr (and so in a revert's message, which
# `pytest.raises(match=...)` reads). After a rollback, another contract type may be
# registered at a reused address; the storage dump then fails on the wrong layout
# ("'IntegerT' object has no attribute 'key_type'") and hides the real outcome. The
# repr falls back to the address; nothing else changes.
_boa_repr = _VyperContract.__repr__


def _repr_or_address(self: _VyperContract) -> str:
    try:
        return _boa_repr(self)
    except Exception:  # a stale layout at a reused address (see above)
        return f"<{getattr(self, 'contract_name', 'contract')} at {self.address} (storage not printable)>"


_VyperContract.__repr__ = _repr_or_address  # type: ignore[method-assign]

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
#: Loan sales and the servicer's bond of the fixture's deal: the sale parameters are
#: ServicingConfig's defaults (start 100%, floor 30%, 3 days, keeper 1%); the bond
#: 5% of the pool (50,000.000000), a late penalty 2% and a fraud slash 20% of it, the
#: prover's bounty 10% of a slash, reports due on the 15th, 3 strikes.
SERVICING = ServicingConfig(bond=0.05, late_penalty=0.02, fraud_slash=0.2, bounty=0.1, report_day=15)


def _exact_config(
    name: str, tranches: tuple[TrancheConfig, ...], *, pool: int, loans: int, quorum: int = 3,
    n_attestors: int = 5, **extra: Any,
) -> DealConfig:
    """A deal config that runs the real waterfall: a sequential deal (fixed coupons,
    priority in tranche order, no fees, no reserve, no triggers) compiled from a spec
    by ``compile_exact``; faces in 6-decimal base units. ``extra`` sets other
    ``DealConfig`` fields (e.g. ``minimum_subscription``)."""
    spec = parse_deal({
        "name": name,
        "closing_date": datetime.date(2026, 1, 29),
        "first_payment_date": datetime.date(2026, 2, 25),
        "pool": {"balance": pool / 10**6, "wac": 0.07, "net_coupon": 0.065, "term": 360},
        "tranches": [
            {"name": t.symbol, "balance": t.face / 10**6, "rate": t.coupon, "priority": i + 1}
            for i, t in enumerate(tranches)
        ],
    })
    exact = compile_exact(spec)
    assert list(exact.face) == [t.face for t in tranches] and exact.pool_original == pool
    cfg = config_from_exact(exact, name=name, loan_count=loans, quorum=quorum, n_attestors=n_attestors)
    return dataclasses.replace(cfg, tranches=tranches, **extra)


@dataclass
class World:
    d: DealClient
    admin: str
    investors: list[str]
    keys: list[Account]
    #: The exact engine beside the chain: its state after the last remittance made
    #: through :meth:`remit` in this test, and each period's result.
    state: ExactState = field(init=False)
    results: list[ExactPeriodResult] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.reset_engine()

    def reset_engine(self) -> None:
        self.state = initial_state(self.d.config.exact)
        self.results = []

    @contextlib.contextmanager
    def anchor(self) -> Iterator[None]:
        """``boa.env.anchor()`` for the chain AND the engine beside it."""
        state, results = self.state, list(self.results)
        try:
            with boa.env.anchor():
                yield
        finally:
            self.state, self.results = state, results

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
        """Submit ``report`` (the default one) and run the exact engine on it."""
        report = report or self.report()
        other = self.d.other_income_pending()  # distributed with this report (late penalties)
        self.d.remit(report, self.sign(report, n))
        self.state, result = apply_period(
            self.d.config.exact, self.state, exact_remittance(report, other_income=other)
        )
        self.results.append(result)
        return report

    def remit_with_sales(self, report: RemittanceReport, sold: Any, n: int = 3) -> RemittanceReport:
        """:meth:`remit` through ``submit_with_sales`` (``sold``: (record, proof) of each
        sold loan awaiting confirmation)."""
        other = self.d.other_income_pending()
        self.d.remit_with_sales(report, self.sign(report, n), sold)
        self.state, result = apply_period(
            self.d.config.exact, self.state, exact_remittance(report, other_income=other)
        )
        self.results.append(result)
        return report


def _build() -> World:
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin = boa.env.generate_address("admin")
    cfg = _exact_config("four_tranche_test", TRANCHES, pool=POOL, loans=LOANS, minimum_subscription=1_000_000,
                        initial_delinquent=(0, 0, SERIOUS_AT_CUTOFF), servicing=SERVICING)
    d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin)
    return World(d=d, admin=admin, investors=_close_with_one_investor_per_tranche(d, admin, "investor"), keys=keys)


def _close_with_one_investor_per_tranche(d: DealClient, admin: str, tag: str) -> list[str]:
    """Investor i subscribes all of tranche i at par; the offering closes, every
    investor settles, and the admin (the servicer) holds cash for remittances."""
    tranches = d.config.tranches
    investors = [boa.env.generate_address(f"{tag}{i}") for i in range(len(tranches))]
    d.allow([*investors, admin], FAR_FUTURE)
    for i, t in enumerate(tranches):
        d.settlement.mint(investors[i], t.face, sender=admin)
        d.subscribe(investors[i], i, t.face)
    d.close()
    for inv in investors:
        d.settle(inv)
    d.settlement.mint(admin, 10**15, sender=admin)
    return investors


@pytest.fixture(scope="session")
def exact_config() -> Any:
    """The function that builds a deal config on the real waterfall (see
    :func:`_exact_config`), for tests that deploy a deal of their own."""
    return _exact_config


@pytest.fixture(scope="session")
def chain() -> SimpleNamespace:
    """This module's constants and builders for test modules that deploy deals of their
    own (a test module cannot import ``conftest`` reliably: several conftest modules
    share that name)."""
    return SimpleNamespace(
        TRANCHES=TRANCHES, POOL=POOL, LOANS=LOANS, FAR_FUTURE=FAR_FUTURE,
        SERIOUS_AT_CUTOFF=SERIOUS_AT_CUTOFF, SERVICING=SERVICING, World=World, exact_config=_exact_config,
        close_with_one_investor_per_tranche=_close_with_one_investor_per_tranche,
    )


@pytest.fixture(scope="session")
def world() -> World:
    return _build()


@pytest.fixture(autouse=True)
def _rollback(world: World) -> Iterator[None]:
    with boa.env.anchor():
        world.reset_engine()
        yield


