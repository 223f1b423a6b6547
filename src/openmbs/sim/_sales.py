"""Loan sales in a lifecycle run (``LifecycleConfig.loan_sales``, ``openmbs demo --sales``).

After each accepted period (not the final one) on chain, once the period's block is
sealed, the run indexes the chain into its event store (``events.duckdb``) and writes
the period's loan file; then:

1. the keeper (:class:`openmbs.agents.LoanSaleKeeper`) takes its orders from the store
   and the loan file alone (:func:`period_sale_orders`): the root the oracle accepted
   (the store's ``RemittanceAccepted`` of the period), the records of the loan file
   (the tree rebuilt from them must give that root, else the file is refused), the
   loans sold or on sale (``LoanSold``, ``SaleStarted``) and the sales awaiting
   confirmation (``LoanSold`` without ``SaleConfirmed``: at most
   ``MAX_PENDING_SALES``, 8) from the store; it starts the sale of each loan 90+ days
   delinquent or in foreclosure (and reported 60+ days late: the oracle confirms no
   other liquidation), not liquidated and not sold, in the next block;
2. a compliant bidder (the run's first investor) buys each at the current price;
   the keeper's reward goes to the keeper, the net proceeds to the deal;
3. the simulator books each sold loan liquidated in the next period with
   ``recovery == LoanSale.record_proceeds`` (:meth:`LoanSimulator.sell`), and the
   servicer's next report confirms the sales (``submit_with_sales``, with
   :func:`openmbs.agents.sale_confirmations`).

On a resumed run (embedded chain) the store is rebuilt with the chain and the replayed
periods start and buy the same sales again (same records, same clock); the simulator's
booked sales come back with its saved state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_PENDING_SALES",
    "SaleDesk",
    "accepted_root",
    "period_sale_orders",
    "store_sale_orders",
]

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
        takes, as :func:`openmbs.agents.sale_confirmations` gives them, with the proofs
        from the tree the period's report was built on (``sp.tree``). Raises
        :class:`~openmbs.errors.InputError` if the tape does not show a sold loan
        liquidated."""
        import numpy as np

        from openmbs.agents import loan_records
        from openmbs.errors import InputError
        from openmbs.oracle import loan_id_bytes32

        if not self.awaiting:
            return []
        where = {loan_id_bytes32(x): i for i, x in enumerate(sp.records.column("loan_id").to_pylist())}
        missing = [lid for lid in self.awaiting if lid not in where]
        if missing:
            raise InputError(
                f"period {sp.period} tape: loan 0x{missing[0].hex()} field 'loan_id': sold and awaiting "
                "confirmation, but not in the tape (report it liquidated with the sale's net proceeds)"
            )
        rows = [where[lid] for lid in self.awaiting]
        recs = loan_records(sp.records.take(np.asarray(rows, dtype=np.int64)))
        for i, r in zip(rows, recs, strict=True):
            if not r.liquidated:
                raise InputError(
                    f"period {sp.period} tape: row {i + 1}: loan 0x{r.loan_id.hex()} field 'liquidated' "
                    "value False: the loan was sold; report it liquidated with the sale's net proceeds"
                )
        return [(r, tuple(sp.tree.proof(i))) for i, r in zip(rows, recs, strict=True)]  # the report's tree

    def confirmed(self) -> None:
        """The report confirming the awaiting sales was accepted."""
        self.awaiting = []

    def sell(self, w: Any, store: Any, out: Path, period: int) -> list[tuple[int, int]]:
        """Start and buy the sales a keeper watching the run folder ``out`` finds for the
        accepted period ``period``: the orders come from the event store ``store``
        (indexed up to that period) and the period's loan file alone
        (:func:`period_sale_orders`); the bidder buys each at the current price.
        Returns ``(tape row, net proceeds in record units)`` of each loan bought."""
        from openmbs.agents import LoanSaleKeeper

        room = MAX_PENDING_SALES - len(_pending(store))
        if room <= 0:
            return []
        found = period_sale_orders(store, out, period)
        if found is None:
            return []
        orders, rows = found
        orders = orders[:room]
        if not orders:
            return []
        started = LoanSaleKeeper().start_sales(w.client.loan_sale, orders, sender=self.keeper_account)
        unit = int(w.client.loan_sale.unit_scale())  # base units per record unit
        out_: list[tuple[int, int]] = []
        for lid in started:
            price = w.client.sale_price(lid)
            short = price - int(w.client.settlement.balanceOf(self.bidder))
            if short > 0:  # the bidder brings the cash (the run's test stablecoin, as investors are funded)
                w.client.settlement.mint(self.bidder, short, sender=w.admin)
            paid = w.client.bid(lid, price, sender=self.bidder)
            net = int(w.client.loan_sale.record_proceeds(lid))
            self.rewards += paid - net * unit
            self.awaiting.append(lid)
            self.sold.append((period, rows[lid], lid, net * unit))
            out_.append((rows[lid], net))
        return out_


def desk_for(w: Any) -> SaleDesk:
    """The run's desk: the admin account keeps, the first investor bids."""
    return SaleDesk(keeper_account=w.admin, bidder=w.investors[0])


def _ids(store: Any, event: str, where: str = "", params: list[Any] | None = None) -> set[bytes]:
    """The 32-byte ``loan_id`` of every stored ``event`` (``where``: an SQL filter)."""
    found: set[bytes] = set()
    for table in store.tables_for_event(event):
        sql = f'SELECT CAST(loan_id AS VARCHAR) FROM "{table}"' + (f" WHERE {where}" if where else "")
        found |= {bytes.fromhex(str(r[0]).removeprefix("0x")) for r in store.con.execute(sql, params or []).fetchall()}
    return found


def _pending(store: Any) -> set[bytes]:
    """Loans sold (``LoanSold``) and not yet confirmed by a report (``SaleConfirmed``)."""
    return _ids(store, "LoanSold") - _ids(store, "SaleConfirmed")


def accepted_root(store: Any, period: int) -> bytes:
    """The loan-tape root the oracle accepted for ``period``, from the store's
    ``RemittanceAccepted`` events. Raises :class:`~openmbs.errors.InputError` when the
    store holds no accepted remittance of that period (not indexed yet, or refused)."""
    from openmbs.errors import InputError

    roots = [
        str(r[0])
        for table in store.tables_for_event("RemittanceAccepted")
        for r in store.con.execute(
            f'SELECT CAST(loan_tape_root AS VARCHAR) FROM "{table}" WHERE period = ?', [period]
        ).fetchall()
    ]
    if len(roots) != 1:
        raise InputError(
            f"event store {str(store.path)!r}: {len(roots)} RemittanceAccepted event(s) of period {period} "
            "(need exactly one: the store is indexed up to the period the keeper acts on)"
        )
    return bytes.fromhex(roots[0].removeprefix("0x"))


def period_sale_orders(store: Any, out: str | Path, period: int) -> tuple[list[Any], dict[bytes, int]] | None:
    """What a keeper watching the run folder ``out`` starts after the accepted period
    ``period``, from the event store ``store`` and the period's loan file alone:

    * the seriously delinquent loans of the loan file
      (``loans/period=NNNN/part-0.parquet``; the rule of ``LoanSaleKeeper.orders``);
    * the file's tree must give the root the store's ``RemittanceAccepted`` event of
      the period carries (:func:`accepted_root`), else the file is refused;
    * loans sold (``LoanSold``) or on sale on that period (``SaleStarted``) in the
      store are skipped.

    Returns the :class:`~openmbs.agents.SaleOrder` list and each ordered loan's tape
    row (by 32-byte loan id); None when the file has no loan to sell (its tree is then
    not rebuilt: nothing is acted on).

    Raises
    ------
    InputError
        No accepted remittance of ``period`` in the store, or a loan file whose rebuilt
        root is not the accepted one (the message names the file, the field and the
        value).
    """
    import numpy as np

    from openmbs.agents import LoanSaleKeeper
    from openmbs.oracle import loan_id_bytes32
    from openmbs.sim._config import loans_path, read_loans

    root = accepted_root(store, period)  # before the file: a store behind the period is refused
    rc = read_loans(out, period)
    dq = rc.column("delinquency").to_numpy()
    d = rc.column("defaulted").to_numpy(zero_copy_only=False).astype(bool)
    liq = rc.column("liquidated").to_numpy(zero_copy_only=False).astype(bool)
    end = rc.column("ending_balance").to_numpy()
    if not ((dq >= 3) | (d & (dq >= 2)))[~liq & (end > 0)].any():  # LoanSaleKeeper.orders' rule
        return None  # nothing to sell: skip rebuilding the tree
    skip = _ids(store, "LoanSold") | _ids(store, "SaleStarted", "period = ?", [period])
    orders = LoanSaleKeeper(source=str(loans_path(out, period))).orders_from_table(period, root, rc, sold=skip)
    ids = [loan_id_bytes32(x) for x in rc.column("loan_id").to_pylist()]
    rows = np.asarray(rc.column("tape_row").to_numpy(), dtype=np.int64)
    where = {lid: int(rows[i]) for i, lid in enumerate(ids)}
    return orders, {o.record.loan_id: where[o.record.loan_id] for o in orders}


def store_sale_orders(out: str | Path) -> tuple[int, list[Any]]:
    """What a keeper watching a run folder ``out`` would start, read from its event
    store (``events.duckdb``) and loan files alone: the last accepted period
    (``RemittanceAccepted``) and :func:`period_sale_orders` of it. Returns the period
    and its :class:`~openmbs.agents.SaleOrder` list.

    Raises
    ------
    InputError
        No accepted remittance in the store, or a loan file whose rebuilt root is not
        the accepted one (the message names the file, the field and the value).
    """
    from openmbs.errors import InputError
    from openmbs.indexer import EventStore, default_db_path

    db = default_db_path(out)
    with EventStore(db, read_only=True) as store:
        periods = [
            int(r[0])
            for table in store.tables_for_event("RemittanceAccepted")
            for r in store.con.execute(f'SELECT max(period) FROM "{table}"').fetchall()
            if r[0] is not None
        ]
        if not periods:
            raise InputError(f"file {str(db)!r}: no RemittanceAccepted event (no accepted period)")
        period = max(periods)
        found = period_sale_orders(store, out, period)
    return period, found[0] if found is not None else []
