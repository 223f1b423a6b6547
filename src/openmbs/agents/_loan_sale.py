"""A keeper that starts sales of seriously delinquent loans (``LoanSale.vy``).

The keeper reads what anyone can: the loan-level tape the servicer publishes for the
last accepted period and that period's accepted Merkle root (``RemittanceAccepted``
in the event store, or ``RemittanceOracle.loan_tape_root``). It rebuilds the tree,
refuses a tape whose root is not the accepted one, and starts a sale of every loan
90+ days delinquent or in foreclosure that is not liquidated and not already sold,
with the loan's Merkle proof (docs/chain.md, "Loan sales").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from openmbs.errors import InputError
from openmbs.oracle import LoanRecord, MerkleTree

__all__ = ["LoanSaleKeeper", "SaleOrder", "sale_confirmations"]

#: ``LoanSale.status`` values.
_OPEN, _SOLD = 1, 2


@dataclass(frozen=True)
class SaleOrder:
    """A loan the keeper puts to sale, with its proof against the accepted root."""

    record: LoanRecord
    proof: tuple[bytes, ...]


def _for_sale(r: LoanRecord) -> bool:
    """``LoanSale.start_sale``'s rule: 90+ days delinquent, or in foreclosure and 60+;
    not liquidated; with a balance."""
    return (r.delinquency >= 3 or (r.defaulted and r.delinquency >= 2)) and not r.liquidated and r.ending_balance > 0


@dataclass(frozen=True)
class LoanSaleKeeper:
    """Finds the loans ``LoanSale.start_sale`` accepts and starts their sales.

    Parameters
    ----------
    source
        Where the tape came from (a file name), named in errors.
    """

    source: str = "loan tape"

    def orders(
        self, period: int, accepted_root: bytes, records: Sequence[LoanRecord], *, sold: Collection[bytes] = ()
    ) -> list[SaleOrder]:
        """The sales to start on the tape of ``period`` whose accepted root is
        ``accepted_root``: loans with ``delinquency >= 3``, or ``defaulted`` and ``delinquency >= 2``, not
        liquidated, with a balance, not in ``sold`` (32-byte loan ids).

        Raises
        ------
        InputError
            A record of another period, or a tape whose root is not the accepted one.
        """
        if not records:
            raise InputError(f"{self.source}: period {period}: no loan records")
        for row, r in enumerate(records, start=1):
            if r.period != period:
                raise InputError(
                    f"{self.source}: row {row}: loan 0x{r.loan_id.hex()} field 'period' value {r.period}: "
                    f"the accepted tape is period {period}"
                )
        tree = MerkleTree([r.leaf() for r in records])
        if tree.root != accepted_root:
            raise InputError(
                f"{self.source}: period {period}: field 'loan_tape_root' value 0x{tree.root.hex()}: "
                f"the accepted root is 0x{accepted_root.hex()}"
            )
        sold_ids = set(sold)
        return [
            SaleOrder(r, tuple(tree.proof(i)))
            for i, r in enumerate(records)
            if _for_sale(r) and r.loan_id not in sold_ids
        ]

    def orders_from_table(
        self, period: int, accepted_root: bytes, table: Any, *, sold: Collection[bytes] = ()
    ) -> list[SaleOrder]:
        """:meth:`orders` on a record table (``record_columns`` output, a stored loan
        file) by the compiled path: every leaf is hashed from the table's records
        (:func:`~openmbs.agents.leaf_array`, never a stored ``leaf`` column) into a
        :class:`~openmbs.agents.LoanTree`, whose root must be ``accepted_root``; only the
        candidate rows (reported 60+ days late) become :class:`LoanRecord` objects, to
        which the rule of :meth:`orders` applies. Same result as :meth:`orders` on
        ``loan_records(table)``, without hashing each record in Python.

        Raises
        ------
        InputError
            No records, a record of another period, or a table whose root is not the
            accepted one.
        """
        import numpy as np

        from openmbs.agents._servicer import LoanTree, leaf_array, loan_records

        if table.num_rows == 0:
            raise InputError(f"{self.source}: period {period}: no loan records")
        per = np.asarray(table.column("period").to_numpy(zero_copy_only=False))
        bad = np.flatnonzero(per != period)
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"{self.source}: row {i + 1}: loan {table.column('loan_id')[i].as_py()!r} field 'period' "
                f"value {int(per[i])}: the accepted tape is period {period}"
            )
        tree = LoanTree(leaf_array(table))
        if tree.root != accepted_root:
            raise InputError(
                f"{self.source}: period {period}: field 'loan_tape_root' value 0x{tree.root.hex()}: "
                f"the accepted root is 0x{accepted_root.hex()}"
            )
        dq = np.asarray(table.column("delinquency").to_numpy(zero_copy_only=False))
        rows = np.flatnonzero(dq >= 2)  # the rule below needs at least 60 days
        sold_ids = set(sold)
        records = loan_records(table.take(rows)) if rows.size else []
        return [
            SaleOrder(r, tuple(tree.proof(int(i))))
            for i, r in zip(rows.tolist(), records, strict=True)
            if _for_sale(r) and r.loan_id not in sold_ids
        ]

    def start_sales(self, sale: Any, orders: Sequence[SaleOrder], *, sender: str) -> list[bytes]:
        """Start each order's sale on the ``LoanSale`` contract ``sale`` (a titanoboa
        handle) from ``sender``, skipping loans already sold and sales still open on
        the same period; returns the loan ids started."""
        started: list[bytes] = []
        for o in orders:
            lid = o.record.loan_id
            status = int(sale.status(lid))
            if status >= _SOLD:
                continue
            if status == _OPEN and int(sale.sale_period(lid)) == o.record.period:
                try:
                    sale.current_price(lid)
                    continue  # still live
                except Exception:  # reverted "sale expired": restart it below
                    pass
            sale.start_sale(o.record.as_tuple(), list(o.proof), sender=sender)
            started.append(lid)
        return started


def sale_confirmations(
    records: Sequence[LoanRecord], root: bytes, sold: Collection[bytes], *, source: str = "loan tape"
) -> list[tuple[LoanRecord, tuple[bytes, ...]]]:
    """What ``RemittanceOracle.submit_with_sales`` takes: the record and Merkle proof,
    in the tape ``records`` (file order) whose root is ``root``, of each loan in
    ``sold`` (32-byte ids of the sold loans awaiting confirmation), in ``sold``'s order.

    Raises
    ------
    InputError
        The tape's root is not ``root``, or a sold loan is missing from the tape or not
        shown liquidated (the oracle would refuse the report): the message names the
        source, the loan, the field and the value.
    """
    if not records:
        raise InputError(f"{source}: no loan records")
    tree = MerkleTree([r.leaf() for r in records])
    if tree.root != root:
        raise InputError(
            f"{source}: field 'loan_tape_root' value 0x{tree.root.hex()}: the report's root is 0x{root.hex()}"
        )
    where = {r.loan_id: i for i, r in enumerate(records)}
    out = []
    for lid in sold:
        if lid not in where:
            raise InputError(
                f"{source}: loan 0x{lid.hex()} field 'loan_id': sold and awaiting confirmation, but not in the tape "
                "(report it liquidated with the sale's net proceeds as its recovery)"
            )
        i = where[lid]
        rec = records[i]
        if not rec.liquidated:
            raise InputError(
                f"{source}: row {i + 1}: loan 0x{lid.hex()} field 'liquidated' value False: the loan was sold; "
                "report it liquidated with the sale's net proceeds as its recovery"
            )
        out.append((rec, tuple(tree.proof(i))))
    return out
