"""Shared by the loan-sale and servicer-bond tests: loan-level tapes of the fixture's
pool, the LoanSale deployment and small helpers (a module, not a conftest: see
tests/chain/conftest.py)."""

from __future__ import annotations

from typing import Any

import boa

from openmbs.oracle import LoanRecord, MerkleTree, RemittanceReport

WAD = 10**18
DAY = 86_400
START_WAD = WAD
FLOOR_WAD = 3 * WAD // 10
DURATION = 3 * DAY
REWARD_WAD = WAD // 100
SCHED = 100_000_000
INTEREST = 500_000_000


class Tape:
    """Loan-level tapes of the fixture's pool (``LOANS`` loans of equal balance), one per
    period: every loan pays ``SCHED`` and ``INTEREST`` unless ``special`` gives its
    record's other fields."""

    def __init__(self, world: Any, chain: Any) -> None:
        self.world = world
        n = chain.LOANS
        self.balance = {i + 1: chain.POOL // n for i in range(n)}
        self.records: dict[int, list[LoanRecord]] = {}

    def period(self, p: int, special: dict[int, dict[str, Any]] | None = None) -> list[LoanRecord]:
        special = special or {}
        recs = []
        for loan, bal in self.balance.items():
            if bal == 0:
                continue
            kw: dict[str, Any] = {"scheduled_principal": SCHED, "prepaid_principal": 0, "interest_paid": INTEREST}
            kw.update(special.get(loan, {}))
            out = kw["scheduled_principal"] + kw["prepaid_principal"] + kw.get("recovery", 0) + kw.get("loss", 0)
            recs.append(LoanRecord(loan_id=loan, period=p, beginning_balance=bal, ending_balance=bal - out, **kw))
        self.records[p] = recs
        return recs

    def remit(
        self, p: int, special: dict[int, dict[str, Any]] | None = None, *, sold: tuple[int, ...] = ()
    ) -> RemittanceReport:
        """Report period ``p``; ``sold`` loans (awaiting confirmation) are confirmed with
        their records and proofs in this tape (``submit_with_sales``)."""
        recs = self.period(p, special)
        report = RemittanceReport.from_loans(p, recs)
        if sold:
            self.world.remit_with_sales(report, [self.sold_proof(p, loan) for loan in sold])
        else:
            self.world.remit(report)
        for r in recs:
            self.balance[int.from_bytes(r.loan_id, "big")] = r.ending_balance
        return report

    def sold_proof(self, p: int, loan: int) -> tuple[LoanRecord, list[bytes]]:
        """A loan's record in period ``p``'s tape and its proof (``remit_with_sales``)."""
        recs = self.records[p]
        i = next(k for k, r in enumerate(recs) if int.from_bytes(r.loan_id, "big") == loan)
        return recs[i], MerkleTree([r.leaf() for r in recs]).proof(i)

    def proof(self, p: int, loan: int) -> tuple[tuple[object, ...], list[bytes]]:
        recs = self.records[p]
        i = next(k for k, r in enumerate(recs) if int.from_bytes(r.loan_id, "big") == loan)
        return recs[i].as_tuple(), MerkleTree([r.leaf() for r in recs]).proof(i)

    def record(self, p: int, loan: int) -> LoanRecord:
        return next(r for r in self.records[p] if int.from_bytes(r.loan_id, "big") == loan)


DELINQUENT = {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 3}


def make_bidder(world: Any, name: str, amount: int, sale: Any) -> str:
    b = world.holder(name)
    world.d.settlement.mint(b, amount, sender=world.admin)
    world.d.settlement.approve(sale.address, amount, sender=b)
    return b


def loan_id(loan: int) -> bytes:
    return loan.to_bytes(32, "big")


def now() -> int:
    return int(boa.env.evm.patch.timestamp)


def warp(seconds: int) -> None:
    boa.env.time_travel(seconds=seconds)




def deploy_sale(world: Any) -> Any:
    """The fixture deal's LoanSale (deployed and wired by ``deploy_deal``; its
    parameters are this module's, checked here)."""
    sale = world.d.loan_sale
    assert (sale.start_wad(), sale.floor_wad(), sale.duration(), sale.reward_wad()) == (
        START_WAD, FLOOR_WAD, DURATION, REWARD_WAD)
    return sale


def sold_loan(net: int, balance: int) -> dict[str, Any]:
    """The record fields of a loan of ``balance`` sold for ``net`` (net proceeds), as the
    confirming report shows it: liquidated, the net proceeds its recovery, the rest a loss."""
    return {"scheduled_principal": 0, "interest_paid": 0, "liquidated": True, "recovery": net,
            "loss": balance - net}
