"""Loan sales in a lifecycle run (``LifecycleConfig.loan_sales``, ``openmbs demo --sales``).

After each accepted period (not the final one) on chain:

1. the keeper (:class:`openmbs.agents.LoanSaleKeeper`) takes the servicer's published
   records of the period and the root the oracle accepted for it
   (``RemittanceOracle.loan_tape_root``), rebuilds the tree (refusing a tape whose root
   differs) and starts the sale of each loan 90+ days delinquent or in foreclosure
   (and reported 60+ days late: the oracle confirms no other liquidation), not
   liquidated and not sold, as many as ``LoanSale`` lets wait for confirmation
   (``MAX_PENDING_SALES``, 8);
2. a compliant bidder (the run's first investor) buys each at the current price;
   the keeper's reward goes to the keeper, the net proceeds to the deal;
3. the simulator books each sold loan liquidated in the next period with
   ``recovery == LoanSale.record_proceeds`` (:meth:`LoanSimulator.sell`), and the
   servicer's next report confirms the sales (``submit_with_sales``, with
   :func:`openmbs.agents.sale_confirmations`).

On a resumed run the replayed periods start and buy the same sales again (same
records, same clock); the simulator's booked sales come back with its saved state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MAX_PENDING_SALES", "SaleDesk", "store_sale_orders"]

#: ``LoanSale``/``RemittanceOracle``: sold loans that may await confirmation at once.
MAX_PENDING_SALES = 8


@dataclass
class SaleDesk:
    """The sales of a run: who starts and who buys, what awaits confirmation, totals.

    ``awaiting`` holds the 32-byte ids of loans sold and not yet confirmed by a
    report; ``sold`` every loan sold in the run as ``(period sold, tape row, loan id,
    net proceeds in base units)``.
    """

    keeper_account: str
    bidder: str
    awaiting: list[bytes] = field(default_factory=list)
    sold: list[tuple[int, int, bytes, int]] = field(default_factory=list)
    rewards: int = 0

    @property
    def loans_sold(self) -> int:
        return len(self.sold)

    @property
    def proceeds(self) -> int:
        """Net proceeds paid to the deal (base units)."""
        return sum(p for *_, p in self.sold)

    def confirmations(self, sp: Any) -> list[tuple[Any, tuple[bytes, ...]]]:
        """The records and proofs of the loans awaiting confirmation in the period
        ``sp`` (a :class:`~openmbs.agents.ServicerPeriod`): what ``submit_with_sales``
        takes. Raises :class:`~openmbs.errors.InputError` if the tape does not show a
        sold loan liquidated."""
        from openmbs.agents import loan_records, sale_confirmations

        if not self.awaiting:
            return []
        recs = loan_records(sp.records)
        return sale_confirmations(
            recs, sp.report.loan_tape_root, self.awaiting, source=f"period {sp.period} tape"
        )

    def confirmed(self) -> None:
        """The report confirming the awaiting sales was accepted."""
        self.awaiting = []

    def sell(self, w: Any, sp: Any) -> list[tuple[int, int]]:
        """Start and buy the sales the period ``sp`` (just accepted on chain) allows;
        returns ``(tape row, net proceeds in record units)`` of each loan bought."""
        from openmbs.agents import LoanSaleKeeper, loan_records

        room = MAX_PENDING_SALES - len(self.awaiting)
        if room <= 0:
            return []
        rc = sp.records
        dq = rc.column("delinquency").to_numpy()
        d = rc.column("defaulted").to_numpy(zero_copy_only=False).astype(bool)
        liq = rc.column("liquidated").to_numpy(zero_copy_only=False).astype(bool)
        end = rc.column("ending_balance").to_numpy()
        if not ((dq >= 3) | (d & (dq >= 2)))[~liq & (end > 0)].any():  # LoanSaleKeeper.orders' rule
            return []  # nothing to sell: skip rebuilding the tree
        records = loan_records(rc)
        root = bytes(w.client.oracle.loan_tape_root(sp.period))
        done = {lid for _, _, lid, _ in self.sold}
        orders = LoanSaleKeeper(source=f"period {sp.period} tape").orders(
            sp.period, root, records, sold=done
        )
        orders = orders[:room]
        if not orders:
            return []
        started = LoanSaleKeeper().start_sales(
            w.client.loan_sale, orders, sender=self.keeper_account
        )
        rows = rc.column("tape_row").to_numpy()
        where = {r.loan_id: i for i, r in enumerate(records)}
        unit = int(w.client.loan_sale.unit_scale())  # base units per record unit
        out: list[tuple[int, int]] = []
        for lid in started:
            price = w.client.sale_price(lid)
            short = price - int(w.client.settlement.balanceOf(self.bidder))
            if short > 0:  # the bidder brings the cash (the run's test stablecoin, as investors are funded)
                w.client.settlement.mint(self.bidder, short, sender=w.admin)
            paid = w.client.bid(lid, price, sender=self.bidder)
            net = int(w.client.loan_sale.record_proceeds(lid))
            self.rewards += paid - net * unit
            self.awaiting.append(lid)
            row = int(rows[where[lid]])
            self.sold.append((sp.period, row, lid, net * unit))
            out.append((row, net))
        return out


def desk_for(w: Any) -> SaleDesk:
    """The run's desk: the admin account keeps, the first investor bids."""
    return SaleDesk(keeper_account=w.admin, bidder=w.investors[0])


def store_sale_orders(out: str | Path) -> tuple[int, list[Any]]:
    """What a keeper watching a run folder ``out`` would start, read from its event
    store (``events.duckdb``) and loan files alone: the last accepted period and its
    root (``RemittanceAccepted``), that period's loan file, the loans sold
    (``LoanSold``) or on sale on that period (``SaleStarted``). Returns the period and
    its :class:`~openmbs.agents.SaleOrder` list (the rule of ``LoanSaleKeeper.orders``).

    Raises
    ------
    InputError
        No accepted remittance in the store, or a loan file whose rebuilt root is not
        the accepted one (the message names the file, the field and the value).
    """
    from openmbs.agents import LoanSaleKeeper, loan_records
    from openmbs.errors import InputError
    from openmbs.indexer import EventStore, default_db_path, event_rows
    from openmbs.sim._config import loans_path, read_loans

    out = Path(out)
    db = default_db_path(out)
    with EventStore(db, read_only=True) as store:
        accepted = event_rows(store, "RemittanceAccepted") or []
        sold = event_rows(store, "LoanSold") or []
        started = event_rows(store, "SaleStarted") or []
    if not accepted:
        raise InputError(f"file {str(db)!r}: no RemittanceAccepted event (no accepted period)")
    period = int(accepted[-1]["period"])
    root = bytes.fromhex(str(accepted[-1]["loan_tape_root"]).removeprefix("0x"))
    skip = {bytes.fromhex(str(e["loan_id"]).removeprefix("0x")) for e in sold}
    skip |= {bytes.fromhex(str(e["loan_id"]).removeprefix("0x")) for e in started if int(e["period"]) == period}
    records = loan_records(read_loans(out, period))
    keeper = LoanSaleKeeper(source=str(loans_path(out, period)))
    return period, keeper.orders(period, root, records, sold=skip)
