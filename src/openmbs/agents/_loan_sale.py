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

__all__ = ["LoanSaleKeeper", "SaleOrder"]

#: ``LoanSale.status`` values.
_OPEN, _SOLD = 1, 2


@dataclass(frozen=True)
class SaleOrder:
    """A loan the keeper puts to sale, with its proof against the accepted root."""

    record: LoanRecord
    proof: tuple[bytes, ...]


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
        ``accepted_root``: loans with ``delinquency >= 3`` or ``defaulted``, not
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
            if (r.delinquency >= 3 or r.defaulted)
            and not r.liquidated
            and r.ending_balance > 0
            and r.loan_id not in sold_ids
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
